"""The model watcher never holds its caller's event loop on Redis: shadow scores are
queued and written by its own task, and a Redis that does not answer costs them, not
the requests being scored."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from actors.storage.keys import Keys
from engage.processes import ServerProcess
from engage.stack import start_redis
from serving.watcher import ModelWatcher

pytestmark = pytest.mark.integration

SHADOW = [("fraud", "3", "4", (0.9,), (0.7,))]


@pytest.fixture
def own_redis() -> Iterator[ServerProcess]:
    server = start_redis()
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def test_shadow_scores_are_written_by_the_watcher_and_a_paused_redis_holds_no_request(
    own_redis: ServerProcess,
) -> None:
    url = f"redis://127.0.0.1:{own_redis.port}/0"

    async def scenario() -> tuple[int, ModelWatcher]:
        watcher = ModelWatcher(url, "t", poll_s=0.05)
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        # a request logs its shadow scores while Redis does not answer: it returns at once
        # and the loop keeps turning
        ticks = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            watcher.log_shadow(SHADOW)  # type: ignore[arg-type]
            await asyncio.sleep(0.01)
            ticks += 1
        os.kill(own_redis.process.pid, signal.SIGCONT)
        await asyncio.sleep(0.5)
        watcher.log_shadow(SHADOW)  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        return ticks, watcher

    ticks, watcher = asyncio.run(scenario())
    assert ticks > 30
    written = redis.Redis.from_url(url).lrange(Keys("t").shadow("fraud"), 0, -1)
    assert written, "queued shadow scores reach Redis once it answers"
    assert json.loads(written[0])["champion"] in ("3", 3)
    assert watcher.status()["shadow_dropped"] >= 0
