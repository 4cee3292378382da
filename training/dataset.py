"""Training rows, built by replaying events through the live actors' own code.

`replay` walks each customer's events in event-time order through `CustomerState.apply`,
taking payment features just before each card payment is applied and customer features
at each offer trial, exactly as a live `CustomerActor` turn does. There is no second
implementation of any feature, so there is nothing to skew.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from actors.catalog import OFFER_INDEX
from actors.events import CardPayment, Event
from actors.features import features, offer_rows, payment_features
from actors.state import CustomerState
from training.synthetic import OfferTrial


@dataclass
class FraudRows:
    X: list[list[float]] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    payment_ids: list[str] = field(default_factory=list)


@dataclass
class OfferRows:
    X: list[list[float]] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    offer_ids: list[str] = field(default_factory=list)
    # The customer vector at the trial: ranking evaluation scores every offer from it.
    customer_vectors: list[list[float]] = field(default_factory=list)


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


def fraud_rows(events: Iterable[Event], labels: dict[str, bool]) -> FraudRows:
    rows = FraudRows()
    for customer_id, timeline in by_customer(events).items():
        state = CustomerState()
        for event in timeline:
            if isinstance(event, CardPayment) and not state.has_applied(event.event_id):
                rows.X.append(payment_features(state, event))
                rows.y.append(1 if labels.get(event.payment_id, False) else 0)
                rows.customers.append(customer_id)
                rows.times.append(event.ts)
                rows.payment_ids.append(event.payment_id)
            state.apply(event)
    return rows


def offer_training_rows(events: Iterable[Event], trials: Sequence[OfferTrial]) -> OfferRows:
    """One row per trial: the customer's features at the trial time, for the offer shown."""
    rows = OfferRows()
    trials_by_customer: dict[str, list[OfferTrial]] = defaultdict(list)
    for trial in trials:
        trials_by_customer[trial.customer_id].append(trial)
    timelines = by_customer(events)
    for customer_id, own in trials_by_customer.items():
        own.sort(key=lambda t: t.at)
        timeline = timelines.get(customer_id, [])
        state = CustomerState()
        position = 0
        for trial in own:
            while position < len(timeline) and timeline[position].ts <= trial.at:
                state.apply(timeline[position])
                position += 1
            vector = features(state, trial.at)
            rows.X.append(offer_rows(vector)[OFFER_INDEX[trial.offer_id]])
            rows.y.append(1 if trial.accepted else 0)
            rows.customers.append(customer_id)
            rows.times.append(trial.at)
            rows.offer_ids.append(trial.offer_id)
            rows.customer_vectors.append(vector)
    return rows


def fingerprint(events: Sequence[Event], extra: str = "") -> str:
    """A stable digest of the training data, recorded with every model version."""
    digest = hashlib.sha256(extra.encode())
    for event in events:
        digest.update(event.event_id.encode())
        digest.update(repr(event.ts).encode())
    return digest.hexdigest()[:16]


def split_customers(customers: Sequence[str], test_share: float, seed: int = 0) -> set[str]:
    """Held-out customers, chosen by a stable hash so every run splits alike."""
    held = set()
    for customer_id in set(customers):
        h = int(hashlib.sha256(f"{seed}:{customer_id}".encode()).hexdigest()[:8], 16)
        if h / 0xFFFFFFFF < test_share:
            held.add(customer_id)
    return held
