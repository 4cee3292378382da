"""Lua scripts sent as EVALSHA in a pipeline, without redis-py's check first.

redis-py's registered scripts make every pipeline that holds one send `SCRIPT EXISTS`
before the pipeline itself: a second round trip on every commit, which at light load
(one customer per batch) is half of the store's waiting. Here a pipeline sends EVALSHA
straight away. A server that does not know a script (restarted, failed over to a replica
that never saw it, `SCRIPT FLUSH`) answers NOSCRIPT without running it, so the script is
loaded and only those calls are sent again: each call runs once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class LuaScript:
    """A script's source and the name Redis gives it: the SHA-1 of the source, so the
    name needs no server. Worked out once: every commit sends it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class ScriptCall:
    script: LuaScript
    keys: Sequence[str]
    args: Sequence[Any]


async def run_scripts(redis: aioredis.Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Each call's result, in order, from one pipeline (two when a script had to be
    loaded). Raises the first call's error (a RedisError) after all were answered."""
    results = await _send(redis, calls)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for source in {calls[i].script.source for i in missing}:
            await redis.script_load(source)
        again = await _send(redis, [calls[i] for i in missing])
        for i, result in zip(missing, again, strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


async def _send(redis: aioredis.Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
        return list(await pipe.execute(raise_on_error=False))
