"""No training/serving skew: the live actor and the offline replay compute the same features."""

from __future__ import annotations

import asyncio

from actors.catalog.catalog import built_in
from actors.model.events import CardPayment, event_to_json
from actors.model.features import features, payment_features
from actors.model.offer_features import (
    BLOCK_WIDTH,
    CUSTOMER_WIDTH,
    OFFER_ATTRIBUTES,
    affinities_at,
)
from actors.model.state import CustomerState
from actors.turn.offers import recommender_row
from tests.actors.hosting.test_host import make_host, process
from tests.support import FakeScorer
from training.dataset import by_customer, fraud_rows
from training.synthetic import generate


def test_offline_feature_rows_equal_what_the_live_actor_scored() -> None:
    data = generate(customers=60, days=20, seed=3)
    scorer = FakeScorer()
    host = make_host(scorer=scorer)

    async def live() -> None:
        for i in range(0, len(data.events), 250):  # batches, as ingest delivers them
            await process(host, data.events[i : i + 250])

    asyncio.run(live())
    live_fraud = [row for model, rows in scorer.requests if model == "fraud" for row in rows]
    live_customer = [
        row for model, rows in scorer.requests if model == "recommender" for row in rows
    ]

    # Offline: fraud rows by replay, exactly as training builds them.
    offline = fraud_rows(data.events)
    assert live_fraud, "the live actor scored card payments"
    assert sorted(map(tuple, live_fraud)) == sorted(map(tuple, offline.X))

    # Offline: the customer vector and affinities after each event, by replay. Every
    # request the live actor sent is one of those vectors (it scores only the events a
    # rule may fire on), followed by the rows training builds for the offers it names.
    expected: dict[tuple[float, ...], dict[str, float]] = {}
    for timeline in by_customer(data.events).values():
        state = CustomerState()
        for event in timeline:
            state.apply(event)
            expected[tuple(features(state, event.ts))] = affinities_at(state, event.ts)
    by_attributes = {tuple(o.attributes): o for o in built_in().offers}
    assert len(by_attributes) == len(built_in().offers)
    assert live_customer
    for row in live_customer:
        vector = tuple(row[:CUSTOMER_WIDTH])
        assert vector in expected
        blocks = [row[at : at + BLOCK_WIDTH] for at in range(CUSTOMER_WIDTH, len(row), BLOCK_WIDTH)]
        offers = [by_attributes[tuple(b[: len(OFFER_ATTRIBUTES)])] for b in blocks]
        assert offers
        assert row == recommender_row(list(vector), expected[vector], offers)


def test_payment_features_are_taken_before_the_payment_is_applied() -> None:
    data = generate(customers=20, days=10, seed=4)
    payment = next(e for e in data.events if isinstance(e, CardPayment))
    state = CustomerState()
    before = payment_features(state, payment)
    state.apply(payment)
    after = payment_features(state, payment)
    assert before != after  # the history changed; training and serving both use `before`
    assert event_to_json(payment)
