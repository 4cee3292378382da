"""The state store contract, run against the in-memory store and a real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import pytest

from actors.delivery.guardrails import GuardrailStore
from actors.model.identity import MergeSource
from actors.storage.memory_store import MemoryStateStore
from actors.storage.redis_store import RedisStateStore
from actors.storage.slots import SlotTable
from actors.storage.store import Commit, StateStore

Scenario = Callable[[StateStore], Awaitable[None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario against a fresh store of the parametrised kind."""

    def make() -> StateStore:
        if request.param == "memory":
            return MemoryStateStore()
        url = request.getfixturevalue("redis_url")
        return RedisStateStore(url, request.getfixturevalue("prefix"))

    def runner(scenario: Scenario) -> None:
        async def body() -> None:
            store = make()  # created inside the loop its client will use
            try:
                await scenario(store)
            finally:
                await store.close()

        asyncio.run(body())

    return runner


def action(key: str, customer: str = "c1") -> tuple[str, bytes]:
    return key, json.dumps({"customer_id": customer, "idempotency_key": key}).encode()


def test_a_new_customer_has_no_state_and_version_zero(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        (loaded,) = await store.load_many([(3, "c1")])
        assert (loaded.data, loaded.version) == (None, 0)

    run(scenario)


def test_commit_saves_state_and_bumps_the_version(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        assert await store.commit_many([Commit(3, "c1", 0, b"s1")]) == [1]
        assert await store.commit_many([Commit(3, "c1", 1, b"s2")]) == [2]
        (loaded,) = await store.load_many([(3, "c1")])
        assert (loaded.data, loaded.version) == (b"s2", 2)

    run(scenario)


def test_a_stale_version_is_refused_and_writes_nothing(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many([Commit(3, "c1", 0, b"s1")])
        stale = Commit(3, "c1", 0, b"other host", actions=[action("k1")])
        assert await store.commit_many([stale, Commit(3, "c2", 0, b"fine")]) == [None, 1]
        (loaded,) = await store.load_many([(3, "c1")])
        assert loaded.data == b"s1"
        assert await store.outbox([3], 10) == []

    run(scenario)


def test_actions_are_saved_with_the_state_and_cleared_after_delivery(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many([Commit(5, "c1", 0, b"s", actions=[action("k1"), action("k2")])])
        entries = await store.outbox([5], 10)
        assert sorted(e.key for e in entries) == ["k1", "k2"]
        await store.clear_outbox([(5, "k1")])
        assert [e.key for e in await store.outbox([5], 10)] == ["k2"]

    run(scenario)


def test_reminders_are_set_cancelled_and_found_when_due(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        commit = Commit(7, "c1", 0, b"s", reminders_set=[("cart", 100.0), ("reengage", 500.0)])
        await store.commit_many([commit, Commit(7, "c2", 0, b"s", reminders_set=[("cart", 50.0)])])
        due = await store.due_reminders([7], now=200.0, limit=10)
        assert [(r.customer_id, r.kind, r.due_at) for r in due] == [
            ("c2", "cart", 50.0),
            ("c1", "cart", 100.0),
        ]
        assert await store.reminders_of(7, "c1") == {"cart": 100.0, "reengage": 500.0}
        await store.commit_many([Commit(7, "c1", 1, b"s", reminders_cancelled=["cart"])])
        assert await store.reminders_of(7, "c1") == {"reengage": 500.0}

    run(scenario)


def test_the_earliest_reminder_of_each_slot_is_known(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many(
            [
                Commit(3, "c1", 0, b"s", reminders_set=[("cart", 300.0), ("reengage", 90.0)]),
                Commit(4, "c2", 0, b"s", reminders_set=[("cart", 120.5)]),
            ]
        )
        assert await store.earliest_reminders([3, 4, 5]) == {3: 90.0, 4: 120.5}
        assert await store.earliest_reminders([]) == {}

    run(scenario)


def test_a_fired_reminder_is_removed_only_if_it_was_not_set_again(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many([Commit(1, "c1", 0, b"s", reminders_set=[("cart", 100.0)])])
        # Meanwhile the customer added to the cart again: the reminder moved to 900.
        await store.commit_many([Commit(1, "c1", 1, b"s", reminders_set=[("cart", 900.0)])])
        await store.commit_many([Commit(1, "c1", 2, b"s", reminders_fired=[("cart", 100.0)])])
        assert await store.reminders_of(1, "c1") == {"cart": 900.0}
        await store.commit_many([Commit(1, "c1", 3, b"s", reminders_fired=[("cart", 900.0)])])
        assert await store.reminders_of(1, "c1") == {}

    run(scenario)


def test_forget_deletes_state_reminders_and_pending_actions(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many(
            [
                Commit(2, "c1", 0, b"s", actions=[action("k1")], reminders_set=[("cart", 1.0)]),
                Commit(2, "c2", 0, b"s", actions=[action("k2", "c2")]),
            ]
        )
        await store.forget(2, "c1", ["cart"], 3600)
        (loaded,) = await store.load_many([(2, "c1")])
        assert loaded.data is None
        assert loaded.forgotten_at is not None
        assert await store.reminders_of(2, "c1") == {}
        assert [e.key for e in await store.outbox([2], 10)] == ["k2"]

    run(scenario)


def test_the_slot_table_is_compare_and_set_on_its_epoch(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        assert await store.load_slot_table() is None
        first = SlotTable.initial(16, 2)
        assert await store.save_slot_table(first, None)
        assert not await store.save_slot_table(first, None)
        second = first.rebalance([0, 1, 2])
        assert not await store.save_slot_table(second, 7)
        assert await store.save_slot_table(second, first.epoch)
        assert await store.load_slot_table() == second

    run(scenario)


def test_counters_and_guard_facts_are_committed_with_the_state(
    run: Callable[[Scenario], None],
) -> None:
    from actors.delivery.guardrails import MemoryGuardrailStore, RedisGuardrailStore

    async def scenario(store: StateStore) -> None:
        commit = Commit(
            4, "c1", 0, b"s", counters=["sent|treated|r|c|o|1"] * 2, guard={"optout": "1"}
        )
        stale = Commit(4, "c1", 0, b"s", counters=["sent|treated|r|c|o|1"], guard={"optout": "0"})
        await store.commit_many([commit])
        await store.commit_many([stale])  # refused: writes no counter and no fact
        guards: GuardrailStore
        if isinstance(store, MemoryStateStore):
            guards = MemoryGuardrailStore(store)
            assert store.counters[4]["sent|treated|r|c|o|1"] == 2
        else:
            assert isinstance(store, RedisStateStore)
            guards = RedisGuardrailStore(store.redis, store.keys)
            raw = await store.redis.hgetall(store.keys.outcomes(4))
            assert raw == {b"sent|treated|r|c|o|1": b"2"}
        assert await guards.facts([(4, "c1")]) == [{"optout": "1"}]
        await guards.count([(4, "c1", ["cap|channel|push|d|2026-06-01"])])
        await guards.count([(4, "c1", ["cap|channel|push|d|2026-06-01"])])
        (facts,) = await guards.facts([(4, "c1")])
        assert facts["cap|channel|push|d|2026-06-01"] == "2"
        await store.forget(4, "c1", [], 3600)
        assert await guards.facts([(4, "c1")]) == [{}]

    run(scenario)


def test_a_commit_sets_how_long_the_state_lives_from_now(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many([Commit(3, "anon:v1", 0, b"s", ttl_s=3600)])
        await store.commit_many([Commit(3, "c1", 0, b"s")])
        retention = await store.retention_of(3, "anon:v1")
        assert retention is not None
        assert 3590 <= retention <= 3600
        assert await store.retention_of(3, "c1") is None
        # a later commit without a time to live makes the state permanent again
        await store.commit_many([Commit(3, "anon:v1", 1, b"s2")])
        assert await store.retention_of(3, "anon:v1") is None

    run(scenario)


def test_forget_removes_reminders_of_any_kind_and_the_customers_dead_letters(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        rejected = json.dumps({"rejected_action": {"customer_id": "c1"}, "reason": "x"}).encode()
        commit = Commit(3, "c1", 0, b"s", actions=[action("k1"), ("dlq.k2", rejected)])
        commit.reminders_set = [("retired_kind", 100.0), ("cart_abandonment", 200.0)]
        await store.commit_many([commit, Commit(3, "c2", 0, b"s", actions=[action("k3", "c2")])])
        await store.forget(3, "c1", ["cart_abandonment"], 3600)
        assert await store.reminders_of(3, "c1") == {}
        assert [e.key for e in await store.outbox([3], 10)] == ["k3"]

    run(scenario)


def test_a_commit_keeps_the_latest_traces_newest_first_and_forget_removes_them(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        first = Commit(4, "c1", 0, b"s", trace=[b"t1", b"t2"], trace_keep=2, trace_ttl_s=60)
        (v1,) = await store.commit_many([first])
        second = Commit(4, "c1", v1 or 0, b"s", trace=[b"t3"], trace_keep=2, trace_ttl_s=60)
        await store.commit_many([second])
        assert await store.trace_of(4, "c1", 10) == [b"t3", b"t2"]
        refused = Commit(4, "c1", 0, b"s", trace=[b"stale"], trace_keep=2, trace_ttl_s=60)
        assert await store.commit_many([refused]) == [None]  # a refused commit traces nothing
        assert await store.trace_of(4, "c1", 1) == [b"t3"]
        await store.forget(4, "c1", [], 3600)
        assert await store.trace_of(4, "c1", 10) == []

    run(scenario)


def test_trace_notes_go_only_to_customers_that_still_have_a_state(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        await store.commit_many([Commit(4, "c1", 0, b"s")])
        await store.add_traces([(4, "c1", b"n1"), (4, "gone", b"n2"), (4, "c1", b"n3")], 2, 60)
        assert await store.trace_of(4, "c1", 10) == [b"n3", b"n1"]
        assert await store.trace_of(4, "gone", 10) == []

    run(scenario)


def _guards(store: StateStore) -> GuardrailStore:
    from actors.delivery.guardrails import MemoryGuardrailStore, RedisGuardrailStore

    if isinstance(store, MemoryStateStore):
        return MemoryGuardrailStore(store)
    assert isinstance(store, RedisStateStore)
    return RedisGuardrailStore(store.redis, store.keys)


def test_a_merge_takes_the_visitor_over_in_the_customers_commit(
    run: Callable[[Scenario], None],
) -> None:
    """The visitor's data gives way to the link, its reminders and guardrail counters move
    to the customer, in the one step that saves the merged state."""

    async def scenario(store: StateStore) -> None:
        visitor = "anon:v1"
        await store.commit_many(
            [
                Commit(
                    2,
                    visitor,
                    0,
                    b"visitor",
                    reminders_set=[("cart_abandonment", 50.0), ("reengagement", 90.0)],
                    guard={
                        "optout": "1",
                        "fraud_at": "20.0",
                        "consent|email.marketing": "0",
                        "consent|sms.marketing": "1",
                        "consent|push.service": "1",
                    },
                )
            ]
        )
        await _guards(store).count([(2, visitor, ["cap|channel|push|d|2026-06-01"])])
        customer_consent = {"consent|email.marketing": "1", "consent|sms.marketing": "0"}
        await store.commit_many(
            [
                Commit(
                    5,
                    "c1",
                    0,
                    b"customer",
                    reminders_set=[("reengagement", 70.0)],
                    guard=customer_consent,
                )
            ]
        )
        await _guards(store).count([(5, "c1", ["cap|channel|push|d|2026-06-01"])])
        seen = await store.visitor(2, visitor)
        assert (seen.version, seen.data, seen.linked_to) == (1, b"visitor", None)
        assert seen.reminders == {"cart_abandonment": 50.0, "reengagement": 90.0}
        merge = MergeSource(2, visitor, seen.version, tuple(sorted(seen.reminders.items())))
        assert await store.commit_many([Commit(5, "c1", 1, b"merged", merges=[merge])]) == [2]

        (loaded,) = await store.load_many([(2, visitor)])
        assert (loaded.data, loaded.linked_to) == (None, "c1")
        assert await store.linked_to(2, visitor) == "c1"
        assert await store.reminders_of(2, visitor) == {}
        # The customer's own reminder of a kind wins; kinds it had not are adopted.
        assert await store.reminders_of(5, "c1") == {
            "cart_abandonment": 50.0,
            "reengagement": 70.0,
        }
        (facts,) = await _guards(store).facts([(5, "c1")])
        # A withdrawal of consent in either history wins; answers only one gave are kept.
        assert facts == {
            "optout": "1",
            "fraud_at": "20.0",
            "cap|channel|push|d|2026-06-01": "2",
            "consent|email.marketing": "0",
            "consent|sms.marketing": "0",
            "consent|push.service": "1",
        }
        assert await _guards(store).facts([(2, visitor)]) == [{}]

    run(scenario)


def test_a_merge_is_refused_whole_if_the_visitor_changed_or_was_linked_elsewhere(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        visitor = "anon:v1"
        await store.commit_many([Commit(2, visitor, 0, b"visitor")])
        stale = MergeSource(2, visitor, 0, ())
        refused = Commit(5, "c1", 0, b"merged", actions=[action("k1")], merges=[stale])
        assert await store.commit_many([refused]) == [None]
        (loaded,) = await store.load_many([(5, "c1")])
        assert (loaded.data, loaded.version) == (None, 0)
        assert await store.outbox([5], 10) == []
        assert await store.linked_to(2, visitor) is None

        current = MergeSource(2, visitor, 1, ())
        assert await store.commit_many([Commit(5, "c1", 0, b"m", merges=[current])]) == [1]
        # First link wins: another customer cannot take the visitor over any more.
        again = MergeSource(2, visitor, (await store.visitor(2, visitor)).version, ())
        assert await store.commit_many([Commit(6, "c2", 0, b"x", merges=[again])]) == [None]
        assert await store.linked_to(2, visitor) == "c1"

    run(scenario)


def test_forgetting_a_visitor_removes_its_link(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        merge = MergeSource(2, "anon:v1", 0, ())
        await store.commit_many([Commit(5, "c1", 0, b"m", merges=[merge])])
        assert await store.linked_to(2, "anon:v1") == "c1"
        await store.forget(2, "anon:v1", [], 3600)
        assert await store.linked_to(2, "anon:v1") is None
        (loaded,) = await store.load_many([(2, "anon:v1")])
        assert (loaded.data, loaded.linked_to) == (None, None)
        assert loaded.forgotten_at is not None
        # and nothing links to it again while its tombstone lasts
        assert (await store.visitor(2, "anon:v1")).forgotten

    run(scenario)


def test_a_forgotten_customer_leaves_a_tombstone_that_refuses_every_commit_until_it_ends(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        (v1,) = await store.commit_many([Commit(6, "c1", 0, b"s1", trace=[b"t"], trace_keep=5)])
        assert v1 is not None
        before = time.time()
        await store.forget(6, "c1", [], 1)
        (loaded,) = await store.load_many([(6, "c1")])
        assert loaded.data is None
        assert loaded.forgotten_at is not None
        assert loaded.forgotten_at >= before - 1
        # a host that held it live cannot write it back, nor can a fresh one
        assert await store.commit_many([Commit(6, "c1", v1, b"back")]) == [None]
        fresh = Commit(6, "c1", loaded.version, b"again")
        assert await store.commit_many([fresh]) == [None]
        await store.add_traces([(6, "c1", b"note")], 5, 60)
        assert await store.trace_of(6, "c1", 5) == []
        assert "c1" in await store.forgotten(time.time())
        # once the tombstone has ended the id is a new customer's
        await asyncio.sleep(2.1)
        (ended,) = await store.load_many([(6, "c1")])
        assert ended.forgotten_at is None
        assert "c1" not in await store.forgotten(time.time())
        assert await store.commit_many([Commit(6, "c1", ended.version, b"new")]) != [None]

    run(scenario)


def test_a_slot_release_records_the_epoch_it_was_let_go_at(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        assert await store.slot_releases([3, 4]) == {}
        await store.release_slots([3, 4], 2)
        await store.release_slots([4], 5)
        assert await store.slot_releases([3, 4, 9]) == {3: 2, 4: 5}

    run(scenario)


def test_a_commit_keeps_the_slots_segment_members_in_step_with_the_customer(
    run: Callable[[Scenario], None],
) -> None:
    """Joining, staying and leaving are written with the state: the member sets are
    always what the saved states say."""

    async def scenario(store: StateStore) -> None:
        await store.commit_many([Commit(4, "c1", 0, b"s", segments=("buyers", "vip"))])
        await store.commit_many([Commit(4, "c2", 0, b"s", segments=("buyers",))])
        assert set(await store.segment_members(4, "buyers")) == {"c1", "c2"}
        assert set(await store.segment_members(4, "vip")) == {"c1"}
        await store.commit_many([Commit(4, "c1", 1, b"s", segments=("buyers",))])
        assert await store.segment_members(4, "vip") == {}
        await store.commit_many([Commit(4, "c2", 1, b"s")])
        assert set(await store.segment_members(4, "buyers")) == {"c1"}
        # A conflicting commit changes no membership.
        assert await store.commit_many([Commit(4, "c2", 0, b"s", segments=("vip",))]) == [None]
        assert await store.segment_members(4, "vip") == {}

    run(scenario)


def test_a_members_score_is_when_its_state_expires(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: StateStore) -> None:
        before = time.time()
        await store.commit_many([Commit(1, "anon:a", 0, b"s", segments=("s1",), ttl_s=600)])
        await store.commit_many([Commit(1, "c1", 0, b"s", segments=("s1",))])
        members = await store.segment_members(1, "s1")
        assert before + 600 <= members["anon:a"] <= time.time() + 600
        assert members["c1"] == float("inf")

    run(scenario)


def test_a_merged_visitor_and_a_forgotten_customer_leave_their_segments(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: StateStore) -> None:
        visitor = "anon:v1"
        await store.commit_many([Commit(2, visitor, 0, b"v", segments=("browsers",))])
        await store.commit_many([Commit(5, "c1", 0, b"c", segments=("buyers",))])
        merge = MergeSource(2, visitor, 1, ())
        merged = Commit(5, "c1", 1, b"merged", merges=[merge], segments=("browsers", "buyers"))
        assert await store.commit_many([merged]) == [2]
        assert await store.segment_members(2, "browsers") == {}
        assert set(await store.segment_members(5, "browsers")) == {"c1"}
        await store.forget(5, "c1", [], 60)
        assert await store.segment_members(5, "browsers") == {}
        assert await store.segment_members(5, "buyers") == {}

    run(scenario)
