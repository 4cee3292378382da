"""Which dead letters were replayed: one Redis hash, `<prefix>:dlq:replays`, field
`<topic or queue>/<id>`, value a small JSON document.

A record is claimed (`replaying`) before it is put back and marked `replayed` once the
broker or the outbox has it. A claim left behind (the command killed between the two) is
taken again by the next replay: what it put back is recognised downstream (an event by
its id at the customer actor, an action by its idempotency key at the dispatcher), so
finishing the job applies nothing twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal, Protocol

import redis

from actors.errors import StoreUnavailableError

MarkState = Literal["replaying", "replayed"]


@dataclass(frozen=True)
class Mark:
    state: MarkState
    at: float

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "at": self.at})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Mark:
        body = json.loads(raw)
        return cls(state=body["state"], at=float(body["at"]))


class Marks(Protocol):
    def of(self, names: list[str]) -> dict[str, Mark]:
        """The marks of those records that have one."""
        ...

    def claim(self, name: str) -> Mark | None:
        """Claim the record for a replay; the mark it already had (None: it had none, and
        the claim is made)."""
        ...

    def replayed(self, name: str) -> None: ...


class MemoryMarks:
    """Marks in a dict: for unit tests."""

    def __init__(self) -> None:
        self.marks: dict[str, Mark] = {}

    def of(self, names: list[str]) -> dict[str, Mark]:
        return {n: self.marks[n] for n in names if n in self.marks}

    def claim(self, name: str) -> Mark | None:
        if name in self.marks:
            return self.marks[name]
        self.marks[name] = Mark("replaying", time.time())
        return None

    def replayed(self, name: str) -> None:
        self.marks[name] = Mark("replayed", time.time())


class RedisMarks:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = f"{prefix}:dlq:replays"

    def of(self, names: list[str]) -> dict[str, Mark]:
        if not names:
            return {}
        try:
            values = self._redis.hmget(self._key, names)
        except redis.RedisError as error:
            raise StoreUnavailableError("dead-letter replay marks", repr(error)) from error
        return {n: Mark.from_json(v) for n, v in zip(names, values, strict=True) if v}

    def claim(self, name: str) -> Mark | None:
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hsetnx(self._key, name, Mark("replaying", time.time()).to_json())
            pipe.hget(self._key, name)
            made, value = pipe.execute()
        except redis.RedisError as error:
            raise StoreUnavailableError("dead-letter replay marks", repr(error)) from error
        return None if made else Mark.from_json(value)

    def replayed(self, name: str) -> None:
        try:
            self._redis.hset(self._key, name, Mark("replayed", time.time()).to_json())
        except redis.RedisError as error:
            raise StoreUnavailableError("dead-letter replay marks", repr(error)) from error
