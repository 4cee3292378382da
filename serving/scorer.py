"""The Scorer deployment: serves each model's champion, scores its challenger in shadow.

Requests from all shards and API replicas are batched by `@serve.batch`. A batch takes
one reference to the current model per name and uses it for every row, so a request is
never scored by two versions.

Hot swap: a background task watches the registry's epoch. When aliases move it loads the
new version in a worker thread, off the request path, checks its feature version, and
then replaces the reference in one assignment. Requests in flight finish on the old
version; the next batch uses the new one. A version that fails to load is reported and
the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis
from ray import serve

from actors.errors import EngageError, ModelError
from actors.scoring import Score
from serving.models import ServedModel, load_served
from training.registry import CHALLENGER, CHAMPION, ModelRegistry

log = logging.getLogger(__name__)

SHADOW_LOG_LENGTH = 10_000


class ModelSet:
    """The models one replica serves; replaced whole, never mutated in place."""

    def __init__(
        self,
        champions: dict[str, ServedModel] | None = None,
        challengers: dict[str, ServedModel] | None = None,
    ) -> None:
        self.champions = dict(champions or {})
        self.challengers = dict(challengers or {})

    def versions(self) -> dict[str, dict[str, str | None]]:
        names = sorted(set(self.champions) | set(self.challengers))
        return {
            name: {
                CHAMPION: self.champions[name].version if name in self.champions else None,
                CHALLENGER: self.challengers[name].version if name in self.challengers else None,
            }
            for name in names
        }


def load_model_set(registry: ModelRegistry, current: ModelSet | None = None) -> ModelSet:
    """Load every alias from the registry, reusing models already loaded."""
    loaded: dict[tuple[str, str], ServedModel] = {}
    if current is not None:
        for model in [*current.champions.values(), *current.challengers.values()]:
            loaded[(model.name, model.version)] = model
    result = ModelSet()
    for name in registry.names():
        for alias, target in ((CHAMPION, result.champions), (CHALLENGER, result.challengers)):
            version = registry.alias(name, alias)
            if version is None:
                continue
            key = (name, str(version))
            if key not in loaded:
                loaded[key] = load_served(registry, name, version)
            target[name] = loaded[key]
    return result


Shadow = tuple[str, str, str, tuple[float, ...], tuple[float, ...]]


def score_batch(
    models: ModelSet, requests: Sequence[tuple[str, Sequence[Sequence[float]]]]
) -> tuple[list[list[Score] | EngageError], list[Shadow]]:
    """Score many requests; returns per-request scores (or an error) and shadow pairs."""
    by_model: dict[str, list[int]] = {}
    for i, (name, _) in enumerate(requests):
        by_model.setdefault(name, []).append(i)
    answers: list[list[Score] | EngageError] = [[] for _ in requests]
    shadow: list[Shadow] = []
    for name, indices in by_model.items():
        champion = models.champions.get(name)
        if champion is None:
            for i in indices:
                answers[i] = ModelError(name, "no champion is registered")
            continue
        rows = [row for i in indices for row in requests[i][1]]
        predictions = champion.predict(rows)
        position = 0
        for i in indices:
            n = len(requests[i][1])
            answers[i] = [
                Score(name, champion.version, values)
                for values in predictions[position : position + n]
            ]
            position += n
        challenger = models.challengers.get(name)
        if challenger is not None and rows:
            shadowed = challenger.predict(rows)
            for mine, theirs in zip(predictions, shadowed, strict=True):
                shadow.append((name, champion.version, challenger.version, mine, theirs))
    return answers, shadow


def shadow_record(
    at: float, champion: str, challenger: str, mine: tuple[float, ...], theirs: tuple[float, ...]
) -> dict[str, Any]:
    """One comparison: the score of a single-valued model, or the top offer and its p."""
    record: dict[str, Any] = {"at": at, "champion": champion, "challenger": challenger}
    if len(mine) == 1:
        record.update(champion_score=mine[0], challenger_score=theirs[0])
    else:
        top_mine = max(range(len(mine)), key=mine.__getitem__)
        top_theirs = max(range(len(theirs)), key=theirs.__getitem__)
        record.update(
            champion_top=top_mine,
            challenger_top=top_theirs,
            champion_score=mine[top_mine],
            challenger_score=theirs[top_theirs],
        )
    return record


@serve.deployment(
    name="Scorer",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=1000,
    health_check_period_s=5,
)
class Scorer:
    def __init__(
        self,
        redis_url: str,
        prefix: str = "engage",
        poll_s: float = 0.5,
        max_batch_size: int = 256,
        batch_wait_timeout_s: float = 0.002,
    ) -> None:
        self._registry = ModelRegistry(redis_url, prefix)
        self._redis = redis.Redis.from_url(redis_url)
        self._prefix = prefix
        self._poll_s = poll_s
        self._epoch = self._registry.epoch()
        self.models = load_model_set(self._registry)
        self.swaps = 0
        self.last_swap_error: str | None = None
        self._configure_batching(max_batch_size, batch_wait_timeout_s)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def _configure_batching(self, max_batch_size: int, timeout_s: float) -> None:
        # The @serve.batch wrapper has these setters; its type stub does not.
        batched: Any = self._score_batch
        batched.set_max_batch_size(max_batch_size)
        batched.set_batch_wait_timeout_s(timeout_s)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """`user_config` from serve_config.yaml: batching and registry polling."""
        self._poll_s = float(config.get("poll_s", self._poll_s))
        self._configure_batching(
            int(config.get("max_batch_size", 256)),
            float(config.get("batch_wait_timeout_s", 0.002)),
        )

    async def score(self, model: str, rows: list[list[float]]) -> list[Score]:
        result = await self._score_batch((model, rows))
        if isinstance(result, EngageError):
            raise result
        return result

    async def score_unbatched(self, model: str, rows: list[list[float]]) -> list[Score]:
        """The same scoring without @serve.batch: the benchmark's baseline."""
        answers, _ = score_batch(self.models, [(model, rows)])
        result = answers[0]
        if isinstance(result, EngageError):
            raise result
        return result

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.002)
    async def _score_batch(
        self, requests: list[tuple[str, list[list[float]]]]
    ) -> list[list[Score] | EngageError]:
        models = self.models  # one reference for the whole batch: no mixed versions
        answers, shadow = score_batch(models, requests)
        if shadow:
            self._log_shadow(shadow)
        return answers

    def versions(self) -> dict[str, dict[str, str | None]]:
        return self.models.versions()

    def status(self) -> dict[str, Any]:
        return {
            "versions": self.versions(),
            "epoch": self._epoch,
            "swaps": self.swaps,
            "last_swap_error": self.last_swap_error,
        }

    def check_health(self) -> None:
        if self._watcher.done() and not self._watcher.cancelled():
            raise RuntimeError(f"model watcher stopped: {self._watcher.exception()}")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                epoch = await asyncio.to_thread(self._registry.epoch)
                if epoch == self._epoch:
                    continue
                fresh = await asyncio.to_thread(load_model_set, self._registry, self.models)
                self.models = fresh  # the swap: one reference assignment
                self._epoch = epoch
                self.swaps += 1
                self.last_swap_error = None
                log.info("models now %s", fresh.versions())
            except EngageError as error:
                self.last_swap_error = str(error)
                log.error("model swap refused, old models keep serving: %s", error)
            except redis.RedisError as error:
                self.last_swap_error = f"registry unreachable: {error}"

    def _log_shadow(self, shadow: list[Shadow]) -> None:
        now = time.time()
        try:
            pipe = self._redis.pipeline(transaction=False)
            for name, champion, challenger, mine, theirs in shadow[:200]:
                key = f"{self._prefix}:shadow:{name}"
                record = json.dumps(shadow_record(now, champion, challenger, mine, theirs))
                pipe.lpush(key, record)
                pipe.ltrim(key, 0, SHADOW_LOG_LENGTH - 1)
            pipe.execute()
        except redis.RedisError:
            log.warning("shadow log unavailable; shadow scores dropped")
