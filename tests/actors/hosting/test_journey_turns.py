"""A journey run on shard hosts: each step reached is saved with the wake-up of the next,
so a host that starts from the store (after a crash, or a slot moved) goes on where the
run stood, and each step's action is delivered once."""

from __future__ import annotations

import asyncio

from actors.hosting.host import ShardHost
from actors.model.state_format import state_from_json
from actors.rules.ruleset import parse_rules
from actors.storage.memory_store import MemoryStateStore
from actors.storage.slots import slot_of
from tests.actors.hosting.test_host import Clock, RecordingSink, make_host, process
from tests.actors.turn.test_journeys import CART_RECOVERY, KIND
from tests.support import event


def test_a_run_goes_on_from_the_store_on_a_new_host_and_sends_each_step_once() -> None:
    clock, store, sink = Clock(), MemoryStateStore(), RecordingSink()
    slot = slot_of("a", 16)

    def host() -> ShardHost:
        fresh = make_host(store, sink=sink, clock=clock)  # nothing in memory but the store
        fresh.actor.rules = parse_rules(CART_RECOVERY)
        return fresh

    async def fire() -> int:
        shard = host()
        shard.dispatcher.start()
        try:
            fired = await shard.fire_due_reminders()
            await shard.dispatcher.drain()
            return fired
        finally:
            await shard.dispatcher.stop()

    async def scenario() -> list[int]:
        await process(host(), [event("cart_add", customer="a", price=20.0)])
        start = clock.now
        assert await store.reminders_of(slot, "a") == {KIND: start + 1800}
        fired = [await fire()]  # not due yet
        clock.now = start + 1801
        fired += [await fire(), await fire()]  # the second host finds it done
        assert await store.reminders_of(slot, "a") == {KIND: start + 1801 + 86_400}
        clock.now = start + 1801 + 86_401
        fired += [await fire(), await fire()]
        return fired

    assert asyncio.run(scenario()) == [0, 1, 0, 1, 0]
    assert [(a.rule_id, a.type) for a in sink.actions] == [
        ("cart_recovery.email", "cart_reminder"),
        ("cart_recovery.push_offer", "offer"),
    ]
    assert asyncio.run(store.reminders_of(slot, "a")) == {}
    _, saved = store.states[(slot, "a")]
    assert state_from_json(saved).journeys is None
    counters = store.counters[slot]
    assert counters["journey|cart_recovery|run|started"] == 1
    assert counters["journey|cart_recovery|step|email"] == 1
    assert counters["journey|cart_recovery|run|exited"] == 1
