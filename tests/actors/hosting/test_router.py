"""The router: what a failed call to a shard means for its batch (the shard's own error, or
an outage), a paused Redis that never holds the API's event loop, and a slot table written
back when Redis lost it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from ray.exceptions import (
    ActorDiedError,
    ActorUnschedulableError,
    GetTimeoutError,
    NodeDiedError,
    RayError,
    RayTaskError,
)

from actors.config import ActorConfig, RedisConfig
from actors.errors import ContentionError, ShardUnavailableError
from actors.hosting.router import ShardRouter, ensure_slot_table, shard_failure
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from actors.storage.slots import SlotTable
from engage.processes import ServerProcess
from engage.stack import start_redis


@pytest.mark.parametrize(
    "error",
    [
        ActorUnschedulableError("the node specified via NodeAffinitySchedulingStrategy is gone"),
        ActorDiedError(),
        GetTimeoutError("30 s"),
        NodeDiedError("node 3"),  # type: ignore[no-untyped-call]
    ],
)
def test_a_shard_that_cannot_answer_is_an_outage_never_the_events_fault(error: RayError) -> None:
    # An outage: ingest waits it out and retries; counted as the batch's fault, its events
    # would be sent alone and dead-lettered (a node leaving lost events this way).
    failure = shard_failure(2, error)
    assert isinstance(failure, ShardUnavailableError)
    assert failure.shard == 2


def test_an_error_the_shards_code_raised_is_that_error() -> None:
    cause = ContentionError(["c1"])
    wrapped = RayTaskError("process", "traceback", cause)  # type: ignore[no-untyped-call]
    assert shard_failure(1, wrapped) is cause


@pytest.fixture
def own_redis() -> Iterator[ServerProcess]:
    """A Redis of the test's own: it is paused, which the session's Redis must not be."""
    server = start_redis()
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def ticks_while(work: Callable[[], Awaitable[object]], seconds: float) -> int:
    """How often the event loop ran a 10 ms tick while `work` was started and `seconds`
    passed: a loop blocked by a call that waits for Redis does not tick at all."""

    async def scenario() -> int:
        count = 0
        started = asyncio.ensure_future(work())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            count += 1
        started.cancel()
        return count

    return asyncio.run(scenario())


@pytest.mark.integration
def test_a_paused_redis_never_holds_the_apis_event_loop(own_redis: ServerProcess) -> None:
    config = RedisConfig(url=f"redis://127.0.0.1:{own_redis.port}/0", prefix="t")
    actors = ActorConfig(shards=2, slots=16)
    ensure_slot_table(config, actors)
    router = ShardRouter("ns", actors, config, refresh_s=0.0)
    os.kill(own_redis.process.pid, signal.SIGSTOP)

    async def refresh_due() -> None:
        router.refresh_soon()  # what `call` and `each_shard` do first

    # while Redis does not answer, the loop goes on: a blocking refresh would hold it for
    # the client's timeout (5 s, retried once)
    assert ticks_while(refresh_due, 1.0) > 30
    assert router.shard_for("c1") in (0, 1)  # routed by the table it has


@pytest.mark.integration
def test_a_slot_table_gone_from_redis_is_written_back_by_the_router_that_finds_it(
    redis_config: RedisConfig,
) -> None:
    actors = ActorConfig(shards=3, slots=16)
    ensure_slot_table(redis_config, actors)
    router = ShardRouter("ns", actors, redis_config)
    moved = router.table.rebalance([0, 1])  # the supervisor retired shard 2 meanwhile
    client = connect(redis_config.require_url())
    key = Keys(redis_config.prefix).slot_table()
    client.set(key, moved.to_json())
    router.refresh(force=True)
    # Redis restarted without persistence: the table is gone
    client.delete(key)
    table = router.refresh(force=True)
    # then the router wrote back the table it routed by, as news for every shard
    assert table.owners == moved.owners
    assert table.epoch == moved.epoch + 1
    raw = client.get(key)
    assert raw is not None
    assert SlotTable.from_json(raw) == table
    assert router.rebuilds == 1
