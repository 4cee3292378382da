"""Lua scripts in a pipeline: one round trip, each call run exactly once even when the
server has forgotten the script."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from actors.storage.lua import LuaScript, ScriptCall, run_scripts
from actors.storage.redis_store import RedisStateStore
from actors.storage.store import Commit

pytestmark = pytest.mark.integration

COUNT = LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
FAIL = LuaScript("return redis.error_reply('refused ' .. ARGV[1])")


def run(redis_url: str, scenario: Callable[[aioredis.Redis], Awaitable[None]]) -> None:
    async def body() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(body())


async def script_commands(client: aioredis.Redis) -> int:
    """How many SCRIPT commands (EXISTS, LOAD, ...) the server has answered, read from
    INFO's own text (Redis 6 counts them as one command, Redis 7 per subcommand)."""
    connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_command("INFO", "commandstats")
        raw = await connection.read_response(disable_decoding=True)
    finally:
        await client.connection_pool.release(connection)
    return sum(int(calls) for calls in re.findall(rb"cmdstat_script[|a-z]*:calls=(\d+)", raw))


def test_a_pipeline_of_scripts_asks_nothing_before_it_runs(redis_url: str, prefix: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        key = f"{prefix}:count"
        await run_scripts(client, [ScriptCall(COUNT, [key], [1])])  # loaded by now
        before = await script_commands(client)
        results = await run_scripts(client, [ScriptCall(COUNT, [key], [n]) for n in (2, 3)])
        assert results == [3, 6]
        assert await script_commands(client) == before

    run(redis_url, scenario)


def test_a_forgotten_script_is_loaded_and_each_call_still_runs_once(
    redis_url: str, prefix: str
) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        key = f"{prefix}:once"
        await client.script_flush()  # as a restarted or failed-over server would be
        results = await run_scripts(client, [ScriptCall(COUNT, [key], [1]) for _ in range(3)])
        assert results == [1, 2, 3]
        assert await client.get(key) == b"3"

    run(redis_url, scenario)


def test_a_failing_call_raises_after_the_others_ran(redis_url: str, prefix: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        key = f"{prefix}:others"
        calls = [ScriptCall(COUNT, [key], [1]), ScriptCall(FAIL, [key], ["x"])]
        calls.append(ScriptCall(COUNT, [key], [1]))
        with pytest.raises(ResponseError, match="refused x"):
            await run_scripts(client, calls)
        assert await client.get(key) == b"2"

    run(redis_url, scenario)


def test_the_name_is_the_one_the_server_gives(redis_url: str) -> None:
    # EVALSHA works only if engage names a script as the server does.
    async def scenario(client: aioredis.Redis) -> None:
        assert await client.script_load(COUNT.source) == COUNT.sha

    run(redis_url, scenario)


def test_a_store_commit_is_one_round_trip(redis_url: str, prefix: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        store = RedisStateStore(redis_url, prefix)
        try:
            assert await store.commit_many([Commit(1, "c1", 0, b"s1")]) == [1]
            before = await script_commands(client)
            assert await store.commit_many([Commit(1, "c1", 1, b"s2")]) == [2]
            assert await script_commands(client) == before
        finally:
            await store.close()

    run(redis_url, scenario)
