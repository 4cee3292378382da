"""Outbox entries waiting for a time: a retry's backoff, an outage's pause, the end of
quiet hours. One heap and one timer task for all of them, however many wait."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable

from actors.storage.store import OutboxEntry

# The timer looks again at least this often: a clock moved by a test, or an entry added
# while the event loop was busy, is never later than this.
MAX_SLEEP_S = 1.0


class WaitQueue:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        # (due, sequence, entry): the sequence keeps equal times in arrival order.
        self._heap: list[tuple[float, int, OutboxEntry]] = []
        self._keys: set[str] = set()
        self._sequence = itertools.count()
        # Made in `run`: an asyncio.Event belongs to the loop that first waits on it.
        self._wake: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, entry: OutboxEntry, delay_s: float) -> None:
        """Hand `entry` back after `delay_s`; an entry already waiting keeps its time (a
        deferral, then an outage in the same round)."""
        if entry.key in self._keys:
            return
        self._keys.add(entry.key)
        heapq.heappush(self._heap, (self.clock() + delay_s, next(self._sequence), entry))
        if self._wake is not None:
            self._wake.set()

    def forget(self, key: str) -> None:
        """The entry finished some other way: a later `add` of its key waits anew."""
        self._keys.discard(key)

    def drop(self, doomed: Callable[[OutboxEntry], bool]) -> list[OutboxEntry]:
        """Take out the waiting entries `doomed` picks; returns them."""
        dropped = [item[2] for item in self._heap if doomed(item[2])]
        if dropped:
            self._heap = [item for item in self._heap if not doomed(item[2])]
            heapq.heapify(self._heap)
        return dropped

    async def run(self, put: Callable[[OutboxEntry], Awaitable[None]]) -> None:
        """Hand each entry to `put` when its time comes (runs until cancelled)."""
        self._wake = asyncio.Event()
        while True:
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                _, _, entry = heapq.heappop(self._heap)
                self._keys.discard(entry.key)
                await put(entry)
            delay = self._heap[0][0] - now if self._heap else MAX_SLEEP_S
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=max(0.001, min(delay, MAX_SLEEP_S))
                )
