"""Per-customer locks of a shard host: one turn at a time per customer, any number across
customers. A lock lives only while someone holds or waits for it, so a shard that has seen
millions of customers keeps locks for the few in a turn now."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable


class CustomerLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    def __contains__(self, customer_id: object) -> bool:
        """Whether the customer is in a turn or waiting for one (not to be passivated)."""
        return customer_id in self._locks

    @contextlib.asynccontextmanager
    async def holding(self, customer_ids: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of these customers, taken in sorted order so two batches
        sharing customers cannot deadlock."""
        ids = sorted(set(customer_ids))
        locks = [self._enter(cid) for cid in ids]
        acquired: list[asyncio.Lock] = []
        try:
            for lock in locks:
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in acquired:
                lock.release()
            for cid in ids:
                self._leave(cid)

    def _enter(self, customer_id: str) -> asyncio.Lock:
        lock = self._locks.get(customer_id)
        if lock is None:
            lock = self._locks[customer_id] = asyncio.Lock()
        self._users[customer_id] += 1
        return lock

    def _leave(self, customer_id: str) -> None:
        self._users[customer_id] -= 1
        if self._users[customer_id] <= 0:
            del self._users[customer_id]
            self._locks.pop(customer_id, None)
