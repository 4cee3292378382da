"""Audience membership as the state store holds it: live counts and exports.

A customer's commit keeps its slot's member sets in step with the segments it is in
(actors.storage.redis_store: one sorted set per segment and slot, member the customer,
score when its state expires), in the same atomic call that saves its state. So a count
here is a recount of the saved states, never a running total that a crash or a replay
could skew, and reading it takes nothing from the shards. Members whose state expired
(retention) are left out at once and removed as they are read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import redis
from redis.exceptions import RedisError

from actors.errors import StoreUnavailableError
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect

# Slots read per round trip: bounds what one pipeline holds on a large deployment.
_SLOTS_PER_CALL = 256
_SCAN_COUNT = 1000
T = TypeVar("T")


class AudienceStore:
    """Counts and members of the segments, read from Redis without stopping traffic."""

    def __init__(
        self, client: redis.Redis, prefix: str, slots: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = client
        self._keys = Keys(prefix)
        self._slots = slots
        self._clock = clock

    @classmethod
    def connect(cls, redis_url: str, prefix: str, slots: int) -> AudienceStore:
        return cls(connect(redis_url), prefix, slots)

    def counts(self, names: Iterable[str]) -> dict[str, int]:
        """How many customers are in each segment now, summed over every slot."""
        wanted = list(names)
        totals = dict.fromkeys(wanted, 0)
        if not wanted:
            return totals
        now = repr(self._clock())
        for first in range(0, self._slots, _SLOTS_PER_CALL):
            slots = range(first, min(first + _SLOTS_PER_CALL, self._slots))

            def read(slots: range = slots) -> list[int]:
                pipe = self._redis.pipeline(transaction=False)
                for slot in slots:
                    for name in wanted:
                        key = self._keys.segment(slot, name)
                        pipe.zremrangebyscore(key, "-inf", now)
                        pipe.zcount(key, f"({now}", "+inf")
                return [int(n) for n in pipe.execute()[1::2]]

            found = self._call(read)
            for index, count in enumerate(found):
                totals[wanted[index % len(wanted)]] += count
        return totals

    def members(self, name: str) -> Iterator[str]:
        """Every customer in segment `name`, slot by slot (an export: each slot's set is
        scanned in pages, so a busy deployment is never blocked for long)."""
        for slot in range(self._slots):
            yield from self._members_of(slot, name)

    def _members_of(self, slot: int, name: str) -> list[str]:
        now = self._clock()
        key = self._keys.segment(slot, name)

        def scan() -> list[str]:
            return [
                member.decode() if isinstance(member, bytes) else str(member)
                for member, expires in self._redis.zscan_iter(key, count=_SCAN_COUNT)
                if float(expires) > now
            ]

        return sorted(self._call(scan))

    def _call(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except (RedisError, OSError) as error:
            raise StoreUnavailableError("segments", str(error)) from error

    def close(self) -> None:
        self._redis.close()
