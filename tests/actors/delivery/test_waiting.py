"""WaitQueue: outbox entries handed back when their time comes, each once."""

from __future__ import annotations

import asyncio

from actors.delivery.waiting import WaitQueue
from actors.storage.store import OutboxEntry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(key: str, slot: int = 1) -> OutboxEntry:
    return OutboxEntry(slot, key, b"{}")


def test_entries_come_back_in_time_order_once_due() -> None:
    async def main() -> list[str]:
        clock = Clock()
        waiting = WaitQueue(clock)
        back: list[str] = []

        async def put(e: OutboxEntry) -> None:
            back.append(e.key)

        waiting.add(entry("late"), 20.0)
        waiting.add(entry("soon"), 5.0)
        task = asyncio.ensure_future(waiting.run(put))
        await asyncio.sleep(0.01)
        assert back == []
        clock.now += 10
        await asyncio.sleep(1.1)  # the timer looks again at least once a second
        assert back == ["soon"]
        clock.now += 10
        await asyncio.sleep(1.1)
        task.cancel()
        return back

    assert asyncio.run(main()) == ["soon", "late"]


def test_an_entry_already_waiting_keeps_its_first_time() -> None:
    clock = Clock()
    waiting = WaitQueue(clock)
    waiting.add(entry("a"), 1.0)
    waiting.add(entry("a"), 100.0)
    assert len(waiting) == 1
    waiting.forget("a")
    waiting.add(entry("a"), 2.0)  # finished some other way meanwhile: waits anew
    assert len(waiting) == 2


def test_drop_takes_out_what_it_picks_and_keeps_the_rest_in_order() -> None:
    async def main() -> list[str]:
        clock = Clock()
        waiting = WaitQueue(clock)
        for i, key in enumerate(["a", "b", "c", "d"]):
            waiting.add(entry(key, slot=i % 2), float(i))
        dropped = waiting.drop(lambda e: e.slot == 1)
        assert sorted(e.key for e in dropped) == ["b", "d"]
        back: list[str] = []

        async def put(e: OutboxEntry) -> None:
            back.append(e.key)

        clock.now += 10
        task = asyncio.ensure_future(waiting.run(put))
        await asyncio.sleep(0.01)
        task.cancel()
        return back

    assert asyncio.run(main()) == ["a", "c"]
