"""Which actions were delivered: the marks that keep an action from being sent twice.

The dispatcher (actors.delivery.outbox) asks before it delivers an action from the outbox
and marks it once delivered; a mark lives `SENT_TTL_S`, longer than any action stays in
an outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from actors.errors import StoreUnavailableError
from actors.storage.keys import Keys

SENT_TTL_S = 90 * 86_400


class IdempotencyStore(Protocol):
    async def already_sent(self, keys: Sequence[str]) -> set[str]: ...

    async def mark_sent(self, keys: Sequence[str]) -> None: ...


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self.sent: set[str] = set()

    async def already_sent(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if k in self.sent}

    async def mark_sent(self, keys: Sequence[str]) -> None:
        self.sent.update(keys)


class RedisIdempotencyStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_s: int = SENT_TTL_S) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s

    async def already_sent(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        try:
            found = await self._redis.mget([self._keys.sent(k) for k in keys])
        except RedisError as error:
            raise StoreUnavailableError("idempotency", str(error)) from error
        return {k for k, v in zip(keys, found, strict=True) if v is not None}

    async def mark_sent(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._keys.sent(key), b"1", ex=self._ttl_s)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("idempotency", str(error)) from error
