"""One fraud-scoring round trip per batch: the batch's payment rows are scored ahead, and
the turns that follow, strictly in order, find the same actions and states as one event at
a time. The recommender is asked by each turn (its request names the offers the customer
may be made, which earlier turns change), coalesced with the other customers' turns."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.config import ActorConfig
from actors.delivery.idempotency import MemoryIdempotencyStore
from actors.delivery.letters import MemoryDeadLetters
from actors.delivery.outbox import Dispatcher
from actors.errors import ScorerUnavailableError
from actors.hosting.host import ShardHost
from actors.model.dedup import NO_ARRIVAL
from actors.model.events import Event
from actors.model.state import CustomerState
from actors.model.state_format import state_to_dict
from actors.rules.ruleset import load_rules
from actors.storage.memory_store import MemoryStateStore
from actors.turn.actor import CustomerActor
from actors.turn.prefetch import CustomerEvents, prefetch
from actors.turn.scoring import CoalescingScorer
from tests.actors.hosting.test_host import Clock, RecordingSink, raw
from tests.support import T0, FakeScorer, event

CUSTOMERS = ["ann", "bob", "cat"]
CATEGORIES = ["electronics", "toys", "books"]


def host_with(scorer: FakeScorer, sink: RecordingSink) -> ShardHost:
    store = MemoryStateStore()
    dispatcher = Dispatcher({"kafka": sink}, MemoryIdempotencyStore(), store, MemoryDeadLetters())
    clock = Clock()
    host = ShardHost(
        0,
        ActorConfig(slots=16),
        store,
        # As a shard wires it: the turns' own requests coalesce with the prefetched rows.
        CustomerActor(load_rules(), CoalescingScorer(scorer), clock),
        dispatcher,
        clock,
    )
    host.set_owned_slots(set(range(16)))
    return host


@st.composite
def streams(draw: Any) -> tuple[list[Event], list[int]]:
    """Events of a few customers in event-time order, and how they are cut into batches."""
    count = draw(st.integers(min_value=1, max_value=40))
    at = T0
    events: list[Event] = []
    for n in range(count):
        at += draw(st.sampled_from([1.0, 30.0, 600.0, 3 * 3600.0]))
        customer = draw(st.sampled_from(CUSTOMERS))
        kind = draw(
            st.sampled_from(
                [
                    "product_view",
                    "product_view",
                    "card_payment",
                    "cart_add",
                    "page_view",
                    "content_view",
                    "purchase",
                    "login",
                ]
            )
        )
        fields: dict[str, Any] = {"event_id": f"e{n}"}
        if kind in ("product_view", "cart_add"):
            fields["category"] = draw(st.sampled_from(CATEGORIES))
            fields["product_id"] = f"p{draw(st.integers(0, 5))}"
        if kind == "card_payment":
            fields["country"] = draw(st.sampled_from(["US", "US", "BR"]))
            fields["amount"] = draw(st.sampled_from([20.0, 900.0]))
            fields["payment_id"] = f"pay{n}"
        events.append(event(kind, customer=customer, at=at, **fields))
    cuts = draw(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=40))
    return events, cuts


def run(events: list[Event], sizes: list[int]) -> tuple[ShardHost, FakeScorer, RecordingSink]:
    """The events through one host, cut into batches of `sizes` (repeated)."""
    scorer, sink = FakeScorer(), RecordingSink()
    host = host_with(scorer, sink)

    async def body() -> None:
        host.dispatcher.start()
        start, i = 0, 0
        while start < len(events):
            size = sizes[i % len(sizes)]
            await host.process(raw(events[start : start + size]))
            start, i = start + size, i + 1
        await host.dispatcher.drain()
        await host.dispatcher.stop()

    asyncio.run(body())
    return host, scorer, sink


def outcome(host: ShardHost, sink: RecordingSink) -> tuple[dict[str, Any], list[Any]]:
    live = {c: host.live.peek(c) for c in CUSTOMERS}
    states = {c: state_to_dict(state) for c, state in live.items() if state is not None}
    actions = sorted(a.model_dump_json() for a in sink.actions)
    return states, actions


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_batched_turns_find_what_one_event_at_a_time_finds(
    stream: tuple[list[Event], list[int]],
) -> None:
    events, cuts = stream
    batched, batched_scorer, batched_sink = run(events, cuts)
    strict, _, strict_sink = run(events, [1])
    assert outcome(batched, batched_sink) == outcome(strict, strict_sink)
    assert batched.stats["scores_rescored"] == 0
    # at most one fraud request per batch
    fraud = [model for model, _ in batched_scorer.requests if model == "fraud"]
    assert len(fraud) <= batched.stats["batches"]


def payment(customer: str, n: int, country: str) -> Event:
    return event(
        "card_payment",
        customer=customer,
        at=T0 + n,
        event_id=f"{customer}{n}",
        country=country,
        amount=900.0,
        payment_id=f"pay-{customer}{n}",
    )


def test_a_customer_with_many_payments_in_a_batch_costs_one_fraud_request() -> None:
    events = [event("product_view", customer="ann", at=T0 + i, event_id=f"v{i}") for i in range(5)]
    events += [payment("ann", 10 + i, country) for i, country in enumerate(["US", "US", "BR"])]
    host, scorer, sink = run(events, [len(events)])
    assert [model for model, _ in scorer.requests].count("fraud") == 1
    assert host.stats["scores_rescored"] == 0
    assert host.stats["scores_prefetched"] == 3  # every payment's turn took its score
    assert any(a.type == "fraud_alert" for a in sink.actions)


def test_rows_are_prefetched_only_for_turns_whose_rules_would_score() -> None:
    state = CustomerState()
    events = [
        (payment("ann", 1, "US"), NO_ARRIVAL),
        (event("page_view", customer="ann", at=T0 + 2, event_id="v2"), NO_ARRIVAL),
        (payment("ann", 3, "BR"), NO_ARRIVAL),
    ]
    scorer = FakeScorer()
    actor = CustomerActor(load_rules(), scorer)
    scores = asyncio.run(prefetch(actor, [CustomerEvents("ann", state, events)]))
    assert state.events_total == 0  # the customer's own state is untouched
    ((model, rows),) = scorer.requests
    assert (model, len(rows)) == ("fraud", 2)
    assert scores.take("ann", "v2", "fraud", rows[0]) is None  # not prefetched
    assert scores.take("ann", "ann3", "fraud", rows[1]) is not None
    assert scores.take("ann", "ann1", "fraud", [0.0] * len(rows[0])) is None
    assert scores.rescored == 1


def test_a_customer_with_one_scored_event_is_not_replayed_and_shares_the_batchs_request() -> None:
    events = [payment("ann", 1, "US"), payment("bob", 2, "BR"), payment("ann", 3, "BR")]
    host, scorer, _ = run(events, [len(events)])
    assert host.stats["customers_replayed"] == 1  # ann only
    # one fraud request with ann's two rows and bob's
    assert [(model, len(rows)) for model, rows in scorer.requests if model == "fraud"] == [
        ("fraud", 3)
    ]
    assert host.stats["scores_prefetched"] == 2  # ann's two payments


def test_whatever_the_model_servers_client_raises_reaches_every_turn_as_an_outage() -> None:
    """A turn isolates an event whose own turn fails (dead-lettered); a scorer failure
    must not look like that: it fails the batch, which is retried."""

    class Broken(FakeScorer):
        async def score(self, model, rows):  # type: ignore[no-untyped-def]
            raise ConnectionResetError("model server went away")

    async def scenario() -> list[object]:
        scorer = CoalescingScorer(Broken())
        calls = [scorer.score("fraud", [[1.0]]), scorer.score("fraud", [[2.0]])]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    for failure in asyncio.run(scenario()):
        assert isinstance(failure, ScorerUnavailableError)
        assert "ConnectionResetError" in failure.cause
