"""Addresses that bounced or complained, kept out of e-mail.

A hard bounce (the mailbox does not exist) suppresses every e-mail to the address; a
complaint (the recipient marked a message as spam) suppresses marketing to it, as the
mailbox providers' sender rules ask. The providers' webhooks write them
(serving.email_events); the dispatcher's guardrails read them before each e-mail
(actors.delivery.guardrails). Addresses are kept lower-cased, in one Redis hash.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from actors.errors import StoreUnavailableError

SuppressionKind = Literal["bounce", "complaint"]


@dataclass(frozen=True)
class Suppression:
    address: str
    kind: SuppressionKind
    provider: str
    detail: str
    at: float

    def blocks(self, kind: str) -> str | None:
        """Why an action of `kind` may not be mailed to the address, or None."""
        if self.kind == "bounce":
            return f"address suppressed: hard bounce ({self.provider}: {self.detail})"
        if kind == "marketing":
            return f"address suppressed: complaint ({self.provider})"
        return None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"kind": self.kind, "provider": self.provider, "detail": self.detail, "at": self.at}
        )

    @classmethod
    def from_json(cls, address: str, raw: bytes | str) -> Suppression:
        data = orjson.loads(raw)
        return cls(address, data["kind"], data["provider"], data["detail"], data["at"])


def normal(address: str) -> str:
    return address.strip().lower()


class Suppressions(Protocol):
    async def of(self, addresses: Sequence[str]) -> dict[str, Suppression]:
        """The suppressions of these addresses (absent: none)."""
        ...

    async def add(self, suppressions: Sequence[Suppression]) -> None:
        """Keep these; a bounce replaces a complaint, never the other way round."""
        ...

    async def remove(self, address: str) -> bool:
        """Lift an address's suppression (it was fixed); False if there was none."""
        ...

    async def listed(self, limit: int) -> list[Suppression]: ...


def stronger(held: Suppression | None, new: Suppression) -> bool:
    return held is None or not (held.kind == "bounce" and new.kind == "complaint")


class MemorySuppressions:
    def __init__(self) -> None:
        self.held: dict[str, Suppression] = {}

    async def of(self, addresses: Sequence[str]) -> dict[str, Suppression]:
        found = {normal(a): self.held.get(normal(a)) for a in addresses}
        return {a: s for a, s in found.items() if s is not None}

    async def add(self, suppressions: Sequence[Suppression]) -> None:
        for new in suppressions:
            if stronger(self.held.get(new.address), new):
                self.held[new.address] = new

    async def remove(self, address: str) -> bool:
        return self.held.pop(normal(address), None) is not None

    async def listed(self, limit: int) -> list[Suppression]:
        return sorted(self.held.values(), key=lambda s: -s.at)[:limit]


class RedisSuppressions:
    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    async def of(self, addresses: Sequence[str]) -> dict[str, Suppression]:
        wanted = sorted({normal(a) for a in addresses})
        if not wanted:
            return {}
        try:
            rows = await self._redis.hmget(self._key, wanted)
        except RedisError as error:
            raise StoreUnavailableError("suppressions", str(error)) from error
        return {a: Suppression.from_json(a, r) for a, r in zip(wanted, rows, strict=True) if r}

    async def add(self, suppressions: Sequence[Suppression]) -> None:
        if not suppressions:
            return
        held = await self.of([s.address for s in suppressions])
        keep: dict[str, Suppression] = {}
        for new in suppressions:
            current = keep.get(new.address) or held.get(new.address)
            if stronger(current, new):
                keep[new.address] = new
        if not keep:
            return
        try:
            await self._redis.hset(self._key, mapping={a: s.to_json() for a, s in keep.items()})
        except RedisError as error:
            raise StoreUnavailableError("suppressions", str(error)) from error

    async def remove(self, address: str) -> bool:
        try:
            return bool(await self._redis.hdel(self._key, normal(address)))
        except RedisError as error:
            raise StoreUnavailableError("suppressions", str(error)) from error

    async def listed(self, limit: int) -> list[Suppression]:
        try:
            rows = await self._redis.hgetall(self._key)
        except RedisError as error:
            raise StoreUnavailableError("suppressions", str(error)) from error
        found = [Suppression.from_json(_text(a), r) for a, r in rows.items()]
        return sorted(found, key=lambda s: -s.at)[:limit]


def suppression(
    address: str, kind: SuppressionKind, provider: str, detail: str, at: float | None = None
) -> Suppression:
    return Suppression(normal(address), kind, provider, detail[:200], at or time.time())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
