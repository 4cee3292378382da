"""ShardHost: many virtual customer actors in one process, effects saved before the ack."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import pytest
import yaml

from actors.config import ActorConfig
from actors.delivery.idempotency import MemoryIdempotencyStore
from actors.delivery.letters import MemoryDeadLetters
from actors.delivery.outbox import Dispatcher
from actors.delivery.sinks.base import Delivery
from actors.errors import ScorerUnavailableError, SlotMovedError, StoreUnavailableError
from actors.hosting.host import ShardHost
from actors.model.actions import Action
from actors.model.dedup import NO_ARRIVAL, Arrival
from actors.model.events import Event, event_to_json
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json, state_to_json
from actors.rules.ruleset import load_rules, parse_rules
from actors.storage.memory_store import MemoryStateStore
from actors.storage.slots import SlotTable, slot_of
from actors.storage.store import Commit
from actors.turn.actor import CustomerActor
from tests.support import T0, FakeScorer, event


class RecordingSink:
    name = "kafka"

    def __init__(self) -> None:
        self.actions: list[Action] = []

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        self.actions.extend(actions)
        return [Delivery.delivered() for _ in actions]

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        return keys & {a.idempotency_key for a in self.actions}

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def make_host(
    store: MemoryStateStore | None = None,
    scorer: FakeScorer | None = None,
    sink: RecordingSink | None = None,
    clock: Clock | None = None,
    **config: object,
) -> ShardHost:
    store = store or MemoryStateStore()
    clock = clock or Clock()
    settings = ActorConfig(slots=16, **config)
    dispatcher = Dispatcher(
        {"kafka": sink or RecordingSink()}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
    )
    host = ShardHost(
        0,
        settings,
        store,
        CustomerActor(load_rules(), scorer or FakeScorer(), clock),
        dispatcher,
        clock,
    )
    host.set_owned_slots(set(range(16)))
    return host


def live(host: ShardHost, customer_id: str) -> CustomerState:
    """The live state of a customer the test made live."""
    state = host.live.peek(customer_id)
    assert state is not None, f"{customer_id} is live"
    return state


def raw(events: list[Event]) -> list[bytes]:
    return [event_to_json(e) for e in events]


async def process(host: ShardHost, events: list[Event]) -> object:
    host.dispatcher.start()
    try:
        result = await host.process(raw(events))
        await host.dispatcher.drain()
        return result
    finally:
        await host.dispatcher.stop()


def browse(customer: str, n: int = 3, start: float = T0) -> list[Event]:
    return [event("product_view", customer=customer, at=start + i) for i in range(n)]


def test_a_batch_saves_each_customer_and_delivers_actions_after_the_save() -> None:
    store, sink = MemoryStateStore(), RecordingSink()
    host = make_host(store, sink=sink)
    result = asyncio.run(process(host, browse("a") + browse("b")))
    assert result.processed == 6  # type: ignore[attr-defined]
    assert {a.customer_id for a in sink.actions} == {"a", "b"}
    for customer in ("a", "b"):
        version, data = store.states[(slot_of(customer, 16), customer)]
        assert version == 1  # one commit per customer per batch
        assert state_from_json(data).session_page_views == 3
    assert all(not outbox for outbox in store.outboxes.values())


def test_a_customers_events_are_applied_in_batch_order() -> None:
    host = make_host()
    events = [
        event("cart_add", customer="a", product_id="x", at=T0),
        event("cart_remove", customer="a", product_id="x", at=T0 + 1),
        event("cart_add", customer="a", product_id="y", at=T0 + 2),
    ]
    asyncio.run(process(host, events))
    assert list(live(host, "a").cart or {}) == ["y"]


def test_redelivered_events_are_counted_as_duplicates_and_change_nothing() -> None:
    store, sink = MemoryStateStore(), RecordingSink()
    events = browse("a")
    asyncio.run(process(make_host(store, sink=sink), events))
    fresh_host = make_host(store, sink=sink)  # a restarted shard: nothing live
    result = asyncio.run(process(fresh_host, events))
    assert (result.processed, result.duplicates) == (0, 3)  # type: ignore[attr-defined]
    assert len(sink.actions) == 1
    assert store.states[(slot_of("a", 16), "a")][0] == 1


def test_an_invalid_event_is_rejected_with_its_position_and_the_rest_goes_on() -> None:
    host = make_host()

    async def scenario() -> object:
        return await host.process([b'{"type": "nope"}', *raw(browse("a", 1))])

    result = asyncio.run(scenario())
    assert result.rejected[0][0] == 0  # type: ignore[attr-defined]
    assert result.processed == 1  # type: ignore[attr-defined]


def test_a_write_by_another_host_is_detected_and_the_turns_rerun_on_fresh_state() -> None:
    store = MemoryStateStore()
    host = make_host(store)

    async def scenario() -> None:
        await process(host, [event("product_view", customer="a", at=T0)])
        # Another host of "a" (e.g. after a slot moved) writes in between.
        other = state_from_json(store.states[(slot_of("a", 16), "a")][1])
        other.apply(event("product_view", customer="a", at=T0 + 1, product_id="p2"))
        await store.commit_many([Commit(slot_of("a", 16), "a", 1, state_to_json(other))])
        await process(host, [event("product_view", customer="a", at=T0 + 2, product_id="p3")])

    asyncio.run(scenario())
    version, data = store.states[(slot_of("a", 16), "a")]
    assert version == 3
    assert state_from_json(data).session_products == ["p1", "p2", "p3"]
    assert host.stats["conflicts"] == 1


def test_a_failing_scorer_fails_the_batch_and_leaves_nothing_half_applied() -> None:
    store = MemoryStateStore()
    host = make_host(store, scorer=FakeScorer(fail=ScorerUnavailableError("recommender", "down")))
    with pytest.raises(ScorerUnavailableError):
        asyncio.run(process(host, browse("a")))
    assert "a" not in host.live  # unsaved changes dropped with the activation
    assert store.states == {}


def test_least_recently_used_customers_are_passivated_over_the_limit() -> None:
    clock = Clock()
    host = make_host(clock=clock, max_live_customers=2)

    async def scenario() -> None:
        for customer in ("a", "b", "c"):
            clock.now += 1
            await process(host, [event("page_view", customer=customer)])

    asyncio.run(scenario())
    assert host.passivate() == 1
    assert list(host.live) == ["b", "c"]


def test_idle_customers_are_passivated_and_reactivate_from_the_store() -> None:
    clock = Clock()
    store = MemoryStateStore()
    host = make_host(store, clock=clock, idle_passivation_s=60)
    asyncio.run(process(host, [event("cart_add", customer="a")]))
    clock.now += 61
    assert host.passivate() == 0  # idle for one period: now in the old generation
    clock.now += 61
    assert host.passivate() == 1
    assert "a" not in host.live
    snapshot = asyncio.run(host.snapshot("a"))
    assert snapshot["cart"]["items"] == 1
    assert host.stats["activations"] == 2


def test_a_poison_event_is_rejected_and_the_customer_goes_on_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = make_host()
    original = CustomerState.apply

    def exploding(self: CustomerState, e: Event, arrival: Arrival = NO_ARRIVAL) -> None:
        if getattr(e, "product_id", "") == "boom":
            raise ZeroDivisionError("bad data")
        original(self, e, arrival)

    monkeypatch.setattr(CustomerState, "apply", exploding)
    events = [
        event("product_view", customer="a", at=T0),
        event("product_view", customer="a", at=T0 + 1, product_id="boom"),
        event("product_view", customer="a", at=T0 + 2, product_id="p3"),
    ]
    result = asyncio.run(process(host, events))
    assert [i for i, _ in result.rejected] == [1]  # type: ignore[attr-defined]
    assert "ZeroDivisionError" in result.rejected[0][1]  # type: ignore[attr-defined]
    assert live(host, "a").session_products == ["p1", "p3"]


def test_many_poison_events_of_one_customer_in_one_batch_are_each_rejected_and_never_halt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Five payments whose feature code raises (as year-9999 timestamps did), one customer,
    # one batch: more poison events than the conflict retries a batch is allowed.
    host = make_host()
    original = CustomerState.apply

    def exploding(self: CustomerState, e: Event, arrival: Arrival = NO_ARRIVAL) -> None:
        if getattr(e, "merchant", "") == "boom":
            raise OverflowError("date value out of range")
        original(self, e, arrival)

    monkeypatch.setattr(CustomerState, "apply", exploding)
    poison = [event("card_payment", customer="a", at=T0 + i, merchant="boom") for i in range(6)]
    events = [event("page_view", customer="a", at=T0), *poison, event("login", customer="a")]
    events.append(event("page_view", customer="b", at=T0))
    result = asyncio.run(process(host, events))
    assert [i for i, _ in result.rejected] == [1, 2, 3, 4, 5, 6]  # type: ignore[attr-defined]
    assert result.processed == 3  # type: ignore[attr-defined]
    assert live(host, "a").events_total == 2
    assert live(host, "b").events_total == 1


def test_due_reminders_fire_the_customers_turn_once() -> None:
    clock, store, sink = Clock(), MemoryStateStore(), RecordingSink()
    host = make_host(store, sink=sink, clock=clock)

    async def scenario() -> list[int]:
        await process(host, [event("cart_add", customer="a", price=20.0)])
        fired = [await host.fire_due_reminders()]
        clock.now += 1801
        host.dispatcher.start()
        fired.append(await host.fire_due_reminders())
        await host.dispatcher.drain()
        fired.append(await host.fire_due_reminders())
        await host.dispatcher.stop()
        return fired

    assert asyncio.run(scenario()) == [0, 1, 0]
    assert [a.type for a in sink.actions] == ["cart_reminder"]
    assert "cart_abandonment" not in asyncio.run(store.reminders_of(slot_of("a", 16), "a"))


class CountingStore(MemoryStateStore):
    """Remembers which slots each reminder read asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.due_reads: list[list[int]] = []
        self.earliest_reads: list[list[int]] = []

    async def due_reminders(self, slots: Sequence[int], now: float, limit: int) -> list[Any]:
        self.due_reads.append(list(slots))
        return await super().due_reminders(slots, now, limit)

    async def earliest_reminders(self, slots: Sequence[int]) -> dict[int, float]:
        self.earliest_reads.append(list(slots))
        return await super().earliest_reminders(slots)


def test_reminder_polls_read_only_the_slots_with_something_due() -> None:
    clock, store = Clock(), CountingStore()
    host = make_host(store, clock=clock)
    cart_slot = slot_of("a", 16)

    async def scenario() -> list[int]:
        fired = [await host.fire_due_reminders()]  # first poll: every slot, nothing due
        assert store.earliest_reads == [list(range(16))]
        await process(host, [event("cart_add", customer="a", price=20.0)])  # due in 30 min
        for _ in range(5):
            clock.now += 1
            fired.append(await host.fire_due_reminders())
        clock.now += 1800
        host.dispatcher.start()
        fired.append(await host.fire_due_reminders())
        await host.dispatcher.stop()
        return fired

    assert asyncio.run(scenario()) == [0, 0, 0, 0, 0, 0, 1]
    # The quiet polls read nothing; the one with a reminder due read its slot only
    # (after a full rescan, as more than `reminder_rescan_s` had passed).
    assert store.due_reads == [[cart_slot]]


def test_a_reminder_written_behind_the_hosts_back_fires_after_the_rescan() -> None:
    clock, store = Clock(), MemoryStateStore()
    host = make_host(store, clock=clock, reminder_rescan_s=10.0)
    slot = slot_of("b", 16)

    async def scenario() -> list[int]:
        host.dispatcher.start()
        fired = [await host.fire_due_reminders()]
        # Another host (a stale owner during a slot move) saves a reminder due now.
        due = [("cart_abandonment", clock.now)]
        await store.commit_many([Commit(slot, "b", 0, b"", reminders_set=due)])
        clock.now += 5
        fired.append(await host.fire_due_reminders())  # not known yet
        clock.now += 5
        fired.append(await host.fire_due_reminders())  # rescan finds it
        await host.dispatcher.stop()
        return fired

    assert asyncio.run(scenario()) == [0, 0, 1]


def test_undelivered_actions_are_recovered_from_the_outbox_after_a_crash() -> None:
    store, sink = MemoryStateStore(), RecordingSink()
    crashed = make_host(store, sink=sink)
    # The crashed host saved state and outbox but never dispatched (no dispatcher running).
    asyncio.run(crashed.process(raw(browse("a"))))
    assert sink.actions == []
    restarted = make_host(store, sink=sink)

    async def recover() -> None:
        restarted.dispatcher.start()
        await restarted.recover_outbox()
        await restarted.dispatcher.drain()
        await restarted.dispatcher.stop()

    asyncio.run(recover())
    assert [a.rule_id for a in sink.actions] == ["browse_offer"]
    asyncio.run(recover())
    assert len(sink.actions) == 1


def test_a_forgotten_customers_events_are_not_applied_until_the_tombstone_ends() -> None:
    store = MemoryStateStore()
    host = make_host(store, forget_tombstone_s=3600)

    async def scenario() -> list[int]:
        await process(host, [event("cart_add", customer="a")])
        await host.forget("a", ["cart_abandonment"])
        assert "a" not in host.live
        assert store.states[(slot_of("a", 16), "a")][1] == b""  # nothing of it kept
        # one more event of the forgotten customer (a replay, a tab left open)
        after = await process(host, [event("page_view", customer="a")])
        kept = store.states[(slot_of("a", 16), "a")][1]
        # then once the tombstone has ended, the id is a new customer's
        store.clock = lambda: time.time() + 3601
        fresh = await process(host, [event("page_view", customer="a")])
        return [after.suppressed, len(kept), fresh.suppressed]  # type: ignore[attr-defined]

    assert asyncio.run(scenario()) == [1, 0, 0]
    assert live(host, "a").events_total == 1
    assert live(host, "a").cart is None


def test_slots_handed_to_another_shard_are_dropped_from_memory() -> None:
    host = make_host()
    asyncio.run(process(host, [event("page_view", customer="a")]))
    table = SlotTable.initial(16, 2)
    host.set_owned_slots(set(table.slots_of(1 - table.owner(slot_of("a", 16)))))
    assert "a" not in host.live


def test_a_read_does_not_wait_for_another_customers_turn() -> None:
    class SlowScorer(FakeScorer):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def score(self, model, rows):  # type: ignore[no-untyped-def]
            await self.release.wait()
            return await super().score(model, rows)

    async def scenario() -> None:
        scorer = SlowScorer()
        host = make_host(scorer=scorer)
        host.dispatcher.start()
        busy = asyncio.create_task(host.process(raw(browse("a"))))
        await asyncio.sleep(0.05)
        assert not busy.done()  # a's third view waits for the scorer
        snapshot = await asyncio.wait_for(host.snapshot("b"), 1.0)
        assert snapshot["known"] is False
        scorer.release.set()
        await busy
        await host.dispatcher.stop()

    asyncio.run(scenario())


def test_introspection_reports_live_customers_and_latencies() -> None:
    host = make_host()
    asyncio.run(process(host, browse("a") + browse("b", 1)))
    info = host.introspect()
    assert info["live_customers"] == 2
    assert info["events"] == 4
    assert info["activations"] == 2
    assert info["turn_ms"]["count"] == 4
    # The offer, and its record on its way to the decision log.
    assert info["actions_by_type"] == {"offer": 1, "decision": 1}
    assert json.dumps(info)


def test_a_moved_slot_reactivates_its_customers_from_the_store_on_the_new_shard() -> None:
    store = MemoryStateStore()
    old, new = make_host(store), make_host(store)
    slot = slot_of("a", 16)

    async def scenario() -> None:
        await process(old, [event("product_view", customer="a", at=T0)])
        # The slot moves: the old shard hands it off, the new one owns it.
        old.set_owned_slots(set(range(16)) - {slot})
        new.set_owned_slots({slot})
        await process(new, [event("product_view", customer="a", at=T0 + 1, product_id="p2")])

    asyncio.run(scenario())
    assert "a" not in old.live
    assert new.live.peek("a").session_products == ["p1", "p2"]  # type: ignore[union-attr]
    assert store.states[(slot, "a")][0] == 2


def test_a_late_batch_on_the_old_host_cannot_overwrite_the_new_hosts_write() -> None:
    store = MemoryStateStore()
    old, new = make_host(store), make_host(store)

    async def scenario() -> None:
        await process(old, [event("product_view", customer="a", at=T0)])
        await process(new, [event("product_view", customer="a", at=T0 + 1, product_id="p2")])
        # A router with a stale table still sends to the old host, which holds version 1.
        await process(old, [event("product_view", customer="a", at=T0 + 2, product_id="p3")])

    asyncio.run(scenario())
    version, data = store.states[(slot_of("a", 16), "a")]
    assert version == 3
    assert state_from_json(data).session_products == ["p1", "p2", "p3"]
    assert old.stats["conflicts"] == 1


def test_an_action_its_rule_cannot_build_goes_to_the_dead_letters_with_the_reason() -> None:
    rules = """
rules:
  - id: needs_category
    kind: service
    triggers: [page_view]
    action: {type: content_recommendation, channel: in_app, template: "{event.category}"}
"""
    from actors.rules.ruleset import parse_rules

    store, letters = MemoryStateStore(), MemoryDeadLetters()
    dispatcher = Dispatcher({"kafka": RecordingSink()}, MemoryIdempotencyStore(), store, letters)
    host = ShardHost(
        0, ActorConfig(slots=16), store, CustomerActor(parse_rules(rules), FakeScorer()), dispatcher
    )
    host.set_owned_slots(set(range(16)))
    asyncio.run(process(host, [event("page_view", customer="a")]))
    ((raw, reason, _),) = letters.letters
    assert "event.category" in reason
    assert json.loads(raw)["rejected_action"]["rule_id"] == "needs_category"
    assert live(host, "a").events_total == 1


def test_anonymous_visitors_expire_sooner_than_known_customers() -> None:
    store = MemoryStateStore()
    host = make_host(store, anonymous_ttl_s=3600, customer_retention_s=86_400)
    visitor = event("page_view", customer=None, anonymous_id="v1")
    events = [event("page_view", customer="c1"), visitor]
    asyncio.run(process(host, events))
    assert store.ttls[(slot_of("c1", 16), "c1")] == 86_400
    assert store.ttls[(slot_of("anon:v1", 16), "anon:v1")] == 3600


class GatedStore(MemoryStateStore):
    """Holds the first load until released: a read activating a customer is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = asyncio.Event()
        self.release = asyncio.Event()
        self._gated = True

    async def load_many(self, items: Sequence[tuple[int, str]]) -> list[Any]:
        loaded = await super().load_many(items)
        if self._gated:
            self._gated = False
            self.loading.set()
            await self.release.wait()
        return loaded


def test_a_read_activating_a_customer_during_its_first_batch_cannot_hide_the_batch() -> None:
    """The read loaded the customer before the batch saved; the batch activated it
    meanwhile. The read's older copy must not replace the live state: every later read
    would answer from it."""

    async def scenario() -> dict[str, Any]:
        store = GatedStore()
        host = make_host(store=store)
        host.dispatcher.start()
        read = asyncio.create_task(host.snapshot("a"))
        await store.loading.wait()
        await host.process(raw(browse("a", 2)))  # activates "a" too, and saves
        store.release.set()
        await read
        after = await host.snapshot("a")
        await host.dispatcher.stop()
        return after

    after = asyncio.run(scenario())
    assert after["known"] is True
    assert after["session"]["events"] == 2


@pytest.mark.parametrize(("window", "suppressed"), [("1h", False), ("3h", True)])
def test_reads_suppress_marketing_for_the_rules_window_after_a_fraud_alert(
    window: str, suppressed: bool
) -> None:
    """A fraud alert two hours before the customer's last event, read then: the context
    and the next-best-offer inputs answer by the rules' policy, as the turns do. Read a
    day later, with no new event, next-best-offer judges the window at the request."""
    text = resources.files("actors.rules").joinpath("rulesets/default.yaml").read_text()
    rules = yaml.safe_load(text)
    rules["policy"]["suppress_marketing_after_fraud"] = window
    clock = Clock()
    host = make_host(clock=clock)
    host.actor.rules = parse_rules(yaml.safe_dump(rules))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        state = await host.activate_one("a")
        state.last_event_at = clock.now = T0 + 7200
        state.fraud_alert_at = T0
        read_then = await host.snapshot("a"), await host.offer_inputs("a")
        clock.now += 86_400
        return *read_then, await host.offer_inputs("a")

    snapshot, inputs, a_day_later = asyncio.run(scenario())
    assert snapshot["customer"]["marketing_suppressed"] is suppressed
    assert all((inputs["blocked"][c] is not None) is suppressed for c in ("email", "in_app"))
    assert a_day_later["blocked"] == dict.fromkeys(("email", "push", "sms", "in_app"))


def test_event_to_action_latency_runs_from_ingest_reading_the_event_to_the_sink() -> None:
    sink = RecordingSink()
    host = make_host(sink=sink)

    async def run() -> None:
        host.dispatcher.start()
        try:
            await host.process(raw(browse("a")), read_at=time.time() - 0.05)
            await host.dispatcher.drain()
        finally:
            await host.dispatcher.stop()

    asyncio.run(run())
    latency = host.dispatcher.latency_ms
    assert latency.count == len(sink.actions) >= 1
    assert latency.total >= 50 * latency.count
    assert host.introspect()["action_latency_ms"]["count"] == latency.count


def test_a_batch_for_a_slot_this_shard_does_not_own_is_refused_before_any_turn() -> None:
    # Given a shard that handed the slot of "a" over (a router with an older table still
    # sends "a" here)
    store = MemoryStateStore()
    host = make_host(store)
    host.set_owned_slots(set(range(16)) - {slot_of("a", 16)})
    # when a batch holding "a" and "b" comes, it is refused whole, as an outage to retry
    with pytest.raises(SlotMovedError) as refused:
        asyncio.run(
            process(host, [event("page_view", customer="b"), event("page_view", customer="a")])
        )
    assert refused.value.slots == [slot_of("a", 16)]
    # and nothing of it was applied or saved: the new owner applies it once
    assert store.states == {}
    assert "b" not in host.live


def test_a_reminder_turn_that_raises_is_dead_lettered_and_holds_back_no_other_customer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, store, sink = Clock(), MemoryStateStore(), RecordingSink()
    letters = MemoryDeadLetters()
    host = make_host(store, sink=sink, clock=clock)
    host.dispatcher.dead_letters = letters
    original = CustomerActor.on_reminder

    async def broken_for_a(
        self: CustomerActor, customer_id: str, state: CustomerState, kind: str, due_at: float
    ) -> Any:
        if customer_id == "a":
            raise KeyError("a field the rule expected")
        return await original(self, customer_id, state, kind, due_at)

    monkeypatch.setattr(CustomerActor, "on_reminder", broken_for_a)

    async def scenario() -> list[int]:
        await process(host, [event("cart_add", customer="a"), event("cart_add", customer="c")])
        clock.now += 1801
        host.dispatcher.start()
        fired = [await host.fire_due_reminders()]
        await host.dispatcher.drain()
        fired.append(await host.fire_due_reminders())
        await host.dispatcher.stop()
        return fired

    # then the other customer's reminder fires, the broken one is removed, not retried for ever
    assert asyncio.run(scenario()) == [1, 0]
    assert [a.customer_id for a in sink.actions] == ["c"]
    assert asyncio.run(store.reminders_of(slot_of("a", 16), "a")) == {}
    ((raw, reason, _),) = letters.letters
    assert b'"customer_id":"a"' in raw
    assert "reminder turn failed: KeyError" in reason
    assert host.stats["reminder_errors"] == 1


def test_a_slot_taken_over_from_a_live_shard_waits_for_its_release() -> None:
    # Given two shards on one store: A owns slot 15 with an action queued, not yet begun;
    # the slot table moves slot 15 to B (epoch 2)
    clock, store = Clock(), MemoryStateStore()
    old = make_host(store, clock=clock, handover_grace_s=35.0)
    new = make_host(store, clock=clock, handover_grace_s=35.0)
    old.set_owned_slots(set(range(16)), epoch=1)
    new.set_owned_slots(set(range(15)), epoch=1)
    slot = 15

    async def scenario() -> list[int]:
        action = ("k-queued", b'{"customer_id": "x"}')
        await store.commit_many([Commit(slot, "x", 0, b"s", actions=[action])])
        new.set_owned_slots(set(range(16)), epoch=2)
        offered = [await new.recover_outbox()]  # A may still deliver it: fenced
        old.set_owned_slots(set(range(15)), epoch=2)  # A adopts the table...
        offered.append(await new.recover_outbox())  # ...but has not said so yet
        await old.release_lost_slots()
        offered.append(await new.recover_outbox())
        return offered

    # then B offers the action only once A has let the slot go
    assert asyncio.run(scenario()) == [0, 0, 1]
    assert asyncio.run(store.slot_releases([slot])) == {slot: 2}


def test_a_release_redis_refused_is_written_on_the_next_refresh() -> None:
    class RefusingOnce(MemoryStateStore):
        refused = False

        async def release_slots(self, slots: Sequence[int], epoch: int) -> None:
            if not self.refused:
                self.refused = True
                raise StoreUnavailableError("slot-releases", "Connection refused")
            await super().release_slots(slots, epoch)

    store = RefusingOnce()
    host = make_host(store, clock=Clock())
    host.set_owned_slots(set(range(16)), epoch=1)
    host.set_owned_slots(set(range(15)), epoch=2)

    async def scenario() -> dict[int, int]:
        with pytest.raises(StoreUnavailableError):
            await host.release_lost_slots()
        await host.release_lost_slots()  # the shard's next table refresh
        return await store.slot_releases([15])

    # then the release is not lost with the failed call: the new owner gets it
    assert asyncio.run(scenario()) == {15: 2}


def test_a_slot_whose_previous_owner_never_releases_it_is_delivered_after_the_grace() -> None:
    clock, store = Clock(), MemoryStateStore()
    host = make_host(store, clock=clock, handover_grace_s=35.0)
    host.set_owned_slots(set(range(15)), epoch=1)

    async def scenario() -> list[int]:
        action = ("k-orphan", b'{"customer_id": "x"}')
        await store.commit_many([Commit(15, "x", 0, b"s", actions=[action])])
        host.set_owned_slots(set(range(16)), epoch=2)  # its owner died: no release comes
        offered = [await host.recover_outbox()]
        clock.now += 36
        offered.append(await host.recover_outbox())
        return offered

    assert asyncio.run(scenario()) == [0, 1]


def test_a_slot_taken_over_leaves_its_previous_owners_deliveries_a_grace_period() -> None:
    # Given a shard that owns slots 0-14 and then takes slot 15 over from a live shard,
    # whose delivery of an action of it began a moment ago
    clock, store = Clock(), MemoryStateStore()
    host = make_host(store, clock=clock, handover_grace_s=35.0)
    host.set_owned_slots(set(range(15)))
    slot = 15

    async def scenario() -> list[int]:
        action = ("k-moved", b'{"customer_id": "x"}')
        await store.commit_many([Commit(slot, "x", 0, b"s", actions=[action])])
        await store.mark_attempted([(slot, "k-moved")], clock.now)
        host.set_owned_slots(set(range(16)))
        offered = [await host.recover_outbox()]
        clock.now += 36
        offered.append(await host.recover_outbox())
        return offered

    # then the action is offered only once the previous owner's attempt is surely over
    assert asyncio.run(scenario()) == [0, 1]


def test_a_cart_add_without_a_price_takes_the_price_of_the_catalogues_product() -> None:
    from actors.catalog.catalog import Catalog
    from actors.catalog.offer import CatalogOffer

    host = make_host()
    host.actor.catalog.catalog = Catalog.of(
        2,
        [
            CatalogOffer(
                offer_id="crime_week",
                title="Crime week",
                categories=("crime",),
                domain="books",
                value=3.0,
                price=9.5,
                product_ids=("isbn-1",),
            )
        ],
    )
    added = [
        event("cart_add", customer="a", product_id="isbn-1", price=None, category=None),
        event("cart_add", customer="a", product_id="isbn-404", price=None, at=T0 + 1),
    ]
    asyncio.run(process(host, added))
    state = live(host, "a")
    assert state.cart == {"isbn-1": ("crime", 9.5, 1), "isbn-404": ("electronics", None, 1)}
    assert state.cart_value_partial
