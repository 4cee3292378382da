"""The dashboard's figures over time, kept in Redis so they outlive any API replica.

Every few seconds one API replica samples the cumulative figures (events in, processed and
dead-lettered, actions per type, lag, events per shard, the turn latency histogram) and
appends the sample to a bounded list. Charts take rates from successive samples, so a
sample lost to an outage is a gap, never a wrong rate. With several API replicas, a
`SET NX` per time bucket lets one of them write each sample.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from actors.errors import EngageError
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect_async

log = logging.getLogger(__name__)

EVERY_S = 5.0
KEEP = 24 * 3600 // int(EVERY_S)  # a day of samples (about 12 MB at most)


class Series(Protocol):
    async def record(self, at: float, figures: dict[str, Any]) -> bool:
        """Append the sample of `at`'s bucket unless another replica did; True if written."""
        ...

    async def since(self, at: float) -> list[dict[str, Any]]:
        """The samples taken at or after `at`, oldest first."""
        ...

    async def aged(self, ages_s: Sequence[float]) -> list[dict[str, Any] | None]:
        """For each age, about the sample taken that long ago (None if there is none)."""
        ...


def sample_of(at: float, figures: dict[str, Any]) -> dict[str, Any]:
    """What a chart needs of `serving.figures.summarize`'s document: cumulative counts."""
    return {
        "t": round(at, 3),
        "events_in": figures["events_in"],
        "events_processed": figures["events_processed"],
        "events_rejected": figures["events_rejected"],
        "consumer_lag": figures["consumer_lag"],
        "actions_by_type": figures["actions_by_type"],
        "shard_events": {
            str(s["shard"]): s["events"] for s in figures["shards"] if s.get("error") is None
        },
        "turn_ms": figures["turn_ms"],
        "action_ms": figures.get("action_latency_ms"),
        "scores": {m: h["counts"] for m, h in figures.get("score_distributions", {}).items()},
    }


def features_sample_of(at: float, figures: dict[str, Any]) -> dict[str, Any]:
    """What per-feature drift needs: cumulative counts per feature bin and score tenth."""
    return {
        "t": round(at, 3),
        "features": figures.get("feature_counts", {}),
        "scores": {m: h["counts"] for m, h in figures.get("score_distributions", {}).items()},
    }


class RedisSeries:
    def __init__(
        self,
        url: str,
        prefix: str,
        every_s: float = EVERY_S,
        keep: int = KEEP,
        *,
        name: str = "figures",
        sample: Callable[[float, dict[str, Any]], dict[str, Any]] = sample_of,
    ) -> None:
        self.keys = Keys(prefix)
        self.every_s = every_s
        self.keep = keep
        self.name = name
        self._sample = sample
        self._list = self.keys.figures_series(name)
        self._redis = connect_async(url)

    async def record(self, at: float, figures: dict[str, Any]) -> bool:
        bucket = int(at // self.every_s)
        claim = self.keys.figures_sample(bucket, self.name)
        if not await self._redis.set(claim, b"1", nx=True, ex=int(self.every_s * 4) + 1):
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self._list, json.dumps(self._sample(at, figures)))
            pipe.ltrim(self._list, -self.keep, -1)
            await pipe.execute()
        return True

    async def since(self, at: float) -> list[dict[str, Any]]:
        # Newest last; read from the end back to the first sample at or after `at`.
        count = min(self.keep, int(max(0.0, time.time() - at) // self.every_s) + 2)
        rows = await self._redis.lrange(self._list, -count, -1)
        samples = [json.loads(row) for row in rows]
        return [s for s in samples if s["t"] >= at]

    async def aged(self, ages_s: Sequence[float]) -> list[dict[str, Any] | None]:
        # By position from the newest: one sample per `every_s`, so cheap whatever the
        # list's length; gaps make a sample a little older than asked, which the drift
        # windows tolerate.
        async with self._redis.pipeline(transaction=False) as pipe:
            for age in ages_s:
                pipe.lindex(self._list, -1 - int(age // self.every_s))
            rows = await pipe.execute()
        return [json.loads(row) if row else None for row in rows]

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass
class SamplerStats:
    written: int = 0
    gaps: int = 0  # samples that could not be taken: gaps in the charts
    last_error: str | None = None


async def sample_forever(
    series: Series,
    figures: Callable[[], Awaitable[dict[str, Any]]],
    stats: SamplerStats,
    every_s: float = EVERY_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Record a sample at each multiple of `every_s` until cancelled. A sample that cannot
    be taken (Redis or a shard out) is a gap in the charts, counted and logged; the next
    tick tries again, so the loop ends only when cancelled."""
    while True:
        await asyncio.sleep(every_s - clock() % every_s)
        try:
            if await series.record(clock(), await figures()):
                stats.written += 1
        except (RedisError, OSError, TimeoutError, EngageError) as error:
            stats.gaps += 1
            stats.last_error = f"{type(error).__name__}: {error}"
            log.warning("dashboard sample skipped: %s", stats.last_error)


# The live feature counts: three hours of samples, by default one a minute. Larger than
# the dashboard's samples (a bin count per feature), so fewer: a few hundred kB in all.
FEATURES_SPAN_S = 3 * 3600.0


def feature_series(url: str, prefix: str, every_s: float) -> RedisSeries:
    """The series of live feature counts, sampled every `every_s` (ApiConfig)."""
    keep = max(2, int(FEATURES_SPAN_S // every_s))
    return RedisSeries(url, prefix, every_s, keep, name="features", sample=features_sample_of)
