"""Labels, defined once next to the features: what each model learns to predict.

A label is an outcome that follows the moment the model is asked, within a window:

* **fraud**: a card payment is fraud when a fraud report, or a chargeback for fraud, naming
  its `payment_id` arrives within `FRAUD.window_s` of it;
* **recommender**: an offer shown is taken when the customer clicks or converts on that
  offer within `OFFER.window_s` of seeing it;
* **winback**: a customer who has bought before and has been quiet for `WINBACK.quiet_s`
  (the re-engagement reminder's week) is won back when they purchase again within
  `WINBACK.window_s` of a cutoff.

Training joins labels to features on event time: the features come from the customer's
state just before the prediction moment (what a live actor saw then), the label only from
outcomes after it. A row whose window has not closed by the end of the data (`as_of`) is
*pending*: left out and counted, never taken as a negative, because a chargeback may still
be on its way. The windows are part of each model's definition; a shorter one is a choice
a data scientist makes on the command line (`engage train --label-window`) and the model
records it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from actors.model import model_names
from actors.model.events import Chargeback, Event, FraudReport, OfferFeedback, Purchase

_DAY = 86_400.0

LabelValue = Literal[0, 1]


@dataclass(frozen=True)
class LabelSpec:
    """One model's label: what counts as the outcome, and how long to wait for it."""

    model: str
    window_s: float
    outcome: str
    # How long a customer must have been quiet at the prediction moment to be asked at all.
    quiet_s: float = 0.0
    # Whether outcomes a client source reported (a browser's "Offer Clicked", sent with a
    # key anyone can copy) count as labels beside those servers confirmed.
    client_labels: bool = True

    def with_window(self, window_s: float | None) -> LabelSpec:
        if window_s is None:
            return self
        if window_s <= 0:
            raise ValueError(f"a label window must be positive, got {window_s:g} s")
        return dataclasses.replace(self, window_s=window_s)

    def server_labels_only(self) -> LabelSpec:
        return dataclasses.replace(self, client_labels=False)

    def label(self, predicted_at: float, outcome_at: float | None, as_of: float) -> int | None:
        """1 if the outcome came within the window, 0 once the window has closed without
        it, None (pending) while the window is still open at `as_of`."""
        closes = predicted_at + self.window_s
        if closes > as_of:
            return None
        if outcome_at is not None and predicted_at <= outcome_at <= closes:
            return 1
        return 0


FRAUD = LabelSpec(
    model_names.FRAUD, 7 * _DAY, "a fraud report or a fraud chargeback naming the payment"
)
OFFER = LabelSpec(model_names.RECOMMENDER, 3 * _DAY, "a click or conversion on the offer shown")
WINBACK = LabelSpec(model_names.WINBACK, 90 * _DAY, "a purchase", quiet_s=7 * _DAY)

LABELS: dict[str, LabelSpec] = {spec.model: spec for spec in (FRAUD, OFFER, WINBACK)}


def confirmed_fraud(event: Event) -> str | None:
    """The payment this event confirms as fraud, if it does."""
    if isinstance(event, FraudReport):
        return event.payment_id
    if isinstance(event, Chargeback) and event.reason == "fraud":
        return event.payment_id
    return None


def offer_shown(event: Event) -> str | None:
    """The offer this event shows the customer, if it does: a recommender prediction."""
    if isinstance(event, OfferFeedback) and event.outcome == "shown":
        return event.offer_id
    return None


def offer_taken(event: Event) -> str | None:
    """The offer this event says the customer took (clicked or converted), if it does."""
    if isinstance(event, OfferFeedback) and event.outcome in ("clicked", "converted"):
        return event.offer_id
    return None


def won_back(event: Event) -> bool:
    return isinstance(event, Purchase)
