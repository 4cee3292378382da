"""No training/serving skew: the live actor and the offline replay compute the same features."""

from __future__ import annotations

import asyncio
import math

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


OWN_RULES = """
version: 1
rules:
  - id: keep
    kind: service
    triggers: [login, card_payment]
    when: scores.churn > 2
    action: {type: content_recommendation, channel: email}
"""


def test_the_rows_exported_for_a_model_of_ones_own_are_what_the_live_turn_sent() -> None:
    from actors.model.feature_views import ENGINE_COLUMNS, resolve
    from actors.rules.ruleset import parse_rules
    from training.view_rows import view_rows

    data = generate(customers=60, days=20, seed=5)
    scorer = FakeScorer(own={"churn": 0.5})
    host = make_host(scorer=scorer)
    host.actor.rules = parse_rules(OWN_RULES)

    async def live() -> None:
        for i in range(0, len(data.events), 250):
            await process(host, data.events[i : i + 250])

    asyncio.run(live())
    sent = [row for model, rows in scorer.requests if model == "churn" for row in rows]
    asked_on = ("login", "card_payment")
    table = view_rows(data.events, resolve("customer,payment"), asked_on, "purchase", 86_400.0)
    exported = [[table.columns[c][i] for c in ENGINE_COLUMNS] for i in range(table.rows)]
    payments = sum(isinstance(e, CardPayment) for e in data.events)
    assert 0 < payments < len(sent)  # logins too, with no payment columns: not exported
    with_payment = [tuple(r) for r in sent if not math.isnan(r[-1])]
    assert sorted(map(tuple, exported)) == sorted(with_payment)
    customer_only = view_rows(data.events, resolve("customer"), asked_on, "purchase", 86_400.0)
    assert customer_only.rows == len(sent)
