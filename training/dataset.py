"""Training rows, built by replaying events through the live actors' own code.

Each customer's events are walked in event-time order through `CustomerState.apply`,
taking payment features just before each card payment is applied and customer features
just before each offer is shown, exactly as a live `CustomerActor` turn does. There is no
second implementation of any feature, so there is nothing to skew. Labels come from the
outcome events among the same events, as `actors.model.labels` defines them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from actors.catalog.catalog import Catalog, built_in
from actors.errors import TrainingDataError
from actors.model.events import CardPayment, Event
from actors.model.features import features, payment_features
from actors.model.labels import FRAUD, OFFER, LabelSpec, confirmed_fraud, offer_shown, offer_taken
from actors.model.offer_features import affinities_at, pair_rows
from actors.model.state import CustomerState


@dataclass
class FraudRows:
    """One row per card payment: its features before it was applied, and its label
    (None while the label window is still open at the end of the data)."""

    X: list[list[float]] = field(default_factory=list)
    y: list[int | None] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    payment_ids: list[str] = field(default_factory=list)


@dataclass
class OfferRows:
    """One row per offer shown: the customer's features just before, and the offer's
    attributes and the customer's relation to it (actors.model.offer_features)."""

    X: list[list[float]] = field(default_factory=list)
    y: list[int | None] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    offer_ids: list[str] = field(default_factory=list)
    # The customer vector and category affinities at the trial: ranking evaluation scores
    # every offer of the catalogue from them.
    customer_vectors: list[list[float]] = field(default_factory=list)
    affinities: list[dict[str, float]] = field(default_factory=list)
    # Shown offers the catalogue no longer has: no row can describe them.
    unknown_offers: int = 0
    # Positive rows whose only take was a client source's report (actors.model.labels):
    # counted apart, as a copied client key could have sent them.
    client_positives: int = 0


def by_customer(events: Iterable[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.actor_id].append(event)
    for timeline in grouped.values():
        timeline.sort(key=lambda e: e.ts)
    return grouped


def replay_states(events: Iterable[Event]) -> dict[str, CustomerState]:
    """Each customer's final state after all its events, in event-time order."""
    states: dict[str, CustomerState] = {}
    for customer_id, timeline in by_customer(events).items():
        state = CustomerState()
        for event in timeline:
            state.apply(event)
        states[customer_id] = state
    return states


def last_event_time(events: Sequence[Event]) -> float:
    if not events:
        raise TrainingDataError("no events to train on")
    return max(e.ts for e in events)


def fraud_rows(
    events: Sequence[Event], spec: LabelSpec = FRAUD, as_of: float | None = None
) -> FraudRows:
    """Payment rows labelled by the fraud reports and chargebacks among `events`."""
    as_of = last_event_time(events) if as_of is None else as_of
    confirmed: dict[str, float] = {}
    for event in events:
        payment_id = confirmed_fraud(event)
        if payment_id is not None:
            confirmed[payment_id] = min(event.ts, confirmed.get(payment_id, event.ts))
    rows = FraudRows()
    for customer_id, timeline in by_customer(events).items():
        state = CustomerState()
        for event in timeline:
            if isinstance(event, CardPayment) and not state.has_applied(event):
                rows.X.append(payment_features(state, event))
                rows.y.append(spec.label(event.ts, confirmed.get(event.payment_id), as_of))
                rows.customers.append(customer_id)
                rows.times.append(event.ts)
                rows.payment_ids.append(event.payment_id)
            state.apply(event)
    return rows


def offer_training_rows(
    events: Sequence[Event],
    spec: LabelSpec = OFFER,
    as_of: float | None = None,
    catalog: Catalog | None = None,
) -> OfferRows:
    """One row per offer shown, labelled by the customer's clicks and conversions on it.
    The offers are described as `catalog` (the served one; the demo's by default) has
    them; an offer shown that it does not hold is counted and left out."""
    catalog = catalog or built_in()
    as_of = last_event_time(events) if as_of is None else as_of
    taken: dict[tuple[str, str], list[float]] = defaultdict(list)
    # Takes servers confirmed: what a label rests on without the client sources'.
    confirmed: dict[tuple[str, str], list[float]] = defaultdict(list)
    for event in events:
        offer_id = offer_taken(event)
        if offer_id is None:
            continue
        if event.source != "client":
            confirmed[(event.actor_id, offer_id)].append(event.ts)
        if spec.client_labels or event.source != "client":
            taken[(event.actor_id, offer_id)].append(event.ts)
    rows = OfferRows()
    for customer_id, timeline in by_customer(events).items():
        state = CustomerState()
        for event in timeline:
            offer_id = offer_shown(event)
            if offer_id is not None and not state.has_applied(event):
                offer = catalog.get(offer_id)
                if offer is None:
                    rows.unknown_offers += 1
                else:
                    vector = features(state, event.ts)
                    affinities = affinities_at(state, event.ts)
                    key = (customer_id, offer_id)
                    after = [t for t in taken.get(key, ()) if t >= event.ts]
                    label = spec.label(event.ts, min(after, default=None), as_of)
                    if label == 1:
                        served = [t for t in confirmed.get(key, ()) if t >= event.ts]
                        if spec.label(event.ts, min(served, default=None), as_of) != 1:
                            rows.client_positives += 1
                    rows.X.append(pair_rows(vector, affinities, [offer])[0].tolist())
                    rows.y.append(label)
                    rows.customers.append(customer_id)
                    rows.times.append(event.ts)
                    rows.offer_ids.append(offer_id)
                    rows.customer_vectors.append(vector)
                    rows.affinities.append(affinities)
            state.apply(event)
    return rows


def fingerprint(events: Sequence[Event], extra: str = "") -> str:
    """A stable digest of the training data, recorded with every model version."""
    digest = hashlib.sha256(extra.encode())
    for event in events:
        digest.update(event.event_id.encode())
        digest.update(repr(event.ts).encode())
    return digest.hexdigest()[:16]
