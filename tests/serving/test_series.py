"""The dashboard's figures over time: one sample per bucket whichever replica writes it,
kept in Redis so a restarted API replica still has them, and a sample that cannot be taken
is a counted gap, never the end of sampling."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from actors.errors import ShardUnavailableError
from engage.stack import start_redis
from serving.series import RedisSeries, SamplerStats, sample_forever, sample_of

FIGURES: dict[str, Any] = {
    "events_in": 10,
    "events_processed": 9,
    "events_rejected": 1,
    "consumer_lag": 4,
    "actions_by_type": {"email": 2},
    "shards": [{"shard": 0, "events": 9}],
    "turn_ms": {"buckets": [1.0], "counts": [3, 0], "sum": 1.5, "count": 3},
}


class ListSeries:
    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []

    async def record(self, at: float, figures: dict[str, Any]) -> bool:
        self.samples.append(sample_of(at, figures))
        return True

    async def since(self, at: float) -> list[dict[str, Any]]:
        return [s for s in self.samples if s["t"] >= at]

    async def aged(self, ages_s: Sequence[float]) -> list[dict[str, Any] | None]:
        return [None for _ in ages_s]


def test_a_failed_sample_is_a_gap_and_sampling_goes_on() -> None:
    series, stats = ListSeries(), SamplerStats()
    calls = 0
    fourth = asyncio.Event()

    async def figures() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 4:
            fourth.set()
        if calls == 2:
            raise ShardUnavailableError(1, "actor died")
        return FIGURES

    async def run() -> None:
        task = asyncio.create_task(sample_forever(series, figures, stats, every_s=0.01))
        await asyncio.wait_for(fourth.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert stats.gaps == 1
    assert "ShardUnavailableError" in (stats.last_error or "")
    assert stats.written == len(series.samples) >= 2


@pytest.mark.integration
def test_samples_outlive_the_replica_that_wrote_them(redis_url: str) -> None:
    prefix = f"series-{uuid.uuid4().hex[:6]}"

    async def run() -> tuple[bool, bool, list[dict[str, Any]]]:
        first, second = RedisSeries(redis_url, prefix), RedisSeries(redis_url, prefix)
        now = time.time()
        wrote = await first.record(now, FIGURES)
        # Another replica sampling the same bucket leaves it as it is.
        wrote_again = await second.record(now + 0.001, FIGURES)
        await first.close()  # the replica that wrote it is gone
        restarted = RedisSeries(redis_url, prefix)
        samples = await restarted.since(now - 60)
        await second.close()
        await restarted.close()
        return wrote, wrote_again, samples

    wrote, wrote_again, samples = asyncio.run(run())
    assert wrote is True
    assert wrote_again is False
    (sample,) = samples
    assert sample["events_processed"] == 9
    assert sample["consumer_lag"] == 4


@pytest.mark.integration
def test_the_series_keeps_only_the_newest_samples(redis_url: str) -> None:
    prefix = f"series-{uuid.uuid4().hex[:6]}"

    async def run() -> list[dict[str, Any]]:
        series = RedisSeries(redis_url, prefix, every_s=1.0, keep=3)
        now = time.time()
        for n in range(5):
            await series.record(now - 10 + n, {**FIGURES, "events_in": n})
        samples = await series.since(now - 60)
        await series.close()
        return samples

    assert [s["events_in"] for s in asyncio.run(run())] == [2, 3, 4]


@pytest.mark.integration
def test_samples_are_found_by_age(redis_url: str) -> None:
    prefix = f"series-{uuid.uuid4().hex[:6]}"

    async def run() -> list[dict[str, Any] | None]:
        series = RedisSeries(redis_url, prefix, every_s=1.0)
        now = time.time()
        for age in (2, 1, 0):
            await series.record(now - age, {**FIGURES, "events_in": age})
        found = await series.aged([2.0, 1.0, 0.0, 60.0])
        await series.close()
        return found

    oldest, middle, newest, missing = asyncio.run(run())
    assert [s["events_in"] for s in (oldest, middle, newest) if s is not None] == [2, 1, 0]
    assert missing is None


@pytest.mark.integration
def test_a_paused_redis_is_a_gap_then_sampling_resumes_and_nothing_is_written_twice() -> None:
    server = start_redis()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        stats = SamplerStats()

        async def figures() -> dict[str, Any]:
            return FIGURES

        async def until(done: Any, timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while not done():
                assert time.monotonic() < deadline, stats
                await asyncio.sleep(0.1)

        async def run() -> list[dict[str, Any]]:
            series = RedisSeries(url, "paused", every_s=1.0)
            started = time.time()
            assert await series.record(started, FIGURES)
            server.process.send_signal(signal.SIGSTOP)  # Redis stops answering
            try:
                sampler = asyncio.create_task(sample_forever(series, figures, stats, every_s=1.0))
                await until(lambda: stats.gaps >= 1, 60)  # an error within bounds, no hang
            finally:
                server.process.send_signal(signal.SIGCONT)
            written = stats.written
            await until(lambda: stats.written > written, 30)
            sampler.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sampler
            samples = await series.since(started - 1)
            await series.close()
            return samples

        samples = asyncio.run(run())
    finally:
        server.stop()
    assert stats.gaps >= 1
    times = [s["t"] for s in samples]
    assert len(times) == len(set(times)) == 1 + stats.written  # each sample once
    assert len({int(t) for t in times}) == len(times)  # one per bucket
