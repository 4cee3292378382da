"""The Scorer deployment: serves each model's champion, scores its challenger in shadow.

Requests from all customer shards are batched by `@serve.batch` (the shards already send
one request per event-loop tick with many rows). A batch reads the current `ModelSet`
once, so a request is never scored by two versions; `serving.watcher` swaps the set when
the registry's aliases move.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray import serve

from actors.errors import EngageError
from actors.gc_tuning import tune_gc
from actors.ray_metrics import REPORT_EVERY_S, SCORER_FIGURES, FigureReporter
from actors.turn.scoring import Score
from serving.config import SCORER_BATCH_WAIT_S, SCORER_MAX_BATCH
from serving.model_set import score_batch
from serving.watcher import ModelWatcher


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
        max_batch_size: int = SCORER_MAX_BATCH,
        batch_wait_timeout_s: float = SCORER_BATCH_WAIT_S,
    ) -> None:
        self.watcher = ModelWatcher(redis_url, prefix, poll_s)
        self._configure_batching(max_batch_size, batch_wait_timeout_s)
        self.metrics = FigureReporter(SCORER_FIGURES, {})
        self._reporting = asyncio.get_running_loop().create_task(self._report_metrics())
        tune_gc()

    async def _report_metrics(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            status = self.watcher.status()
            self.metrics.report({**status, "swap_failing": int(bool(status["last_swap_error"]))})

    def _configure_batching(self, max_batch_size: int, timeout_s: float) -> None:
        # The @serve.batch wrapper has these setters; its type stub does not.
        batched: Any = self._score_batch
        batched.set_max_batch_size(max_batch_size)
        batched.set_batch_wait_timeout_s(timeout_s)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """`user_config` from serve_config.yaml: batching and registry polling."""
        self.watcher.poll_s = float(config.get("poll_s", self.watcher.poll_s))
        self._configure_batching(
            int(config.get("max_batch_size", SCORER_MAX_BATCH)),
            float(config.get("batch_wait_timeout_s", SCORER_BATCH_WAIT_S)),
        )

    async def score(self, model: str, rows: list[list[float]]) -> list[Score]:
        result = await self._score_batch((model, rows))
        if isinstance(result, EngageError):
            raise result
        return result

    async def score_unbatched(self, model: str, rows: list[list[float]]) -> list[Score]:
        """The same scoring without @serve.batch: the benchmark's baseline."""
        answers, _ = score_batch(self.watcher.models, [(model, rows)])
        result = answers[0]
        if isinstance(result, EngageError):
            raise result
        return result

    @serve.batch(max_batch_size=SCORER_MAX_BATCH, batch_wait_timeout_s=SCORER_BATCH_WAIT_S)
    async def _score_batch(
        self, requests: list[tuple[str, list[list[float]]]]
    ) -> list[list[Score] | EngageError]:
        answers, shadow = score_batch(self.watcher.models, requests)
        if shadow:
            self.watcher.log_shadow(shadow)
        return answers

    def versions(self) -> dict[str, dict[str, str | None]]:
        return self.watcher.models.versions()

    def status(self) -> dict[str, Any]:
        return self.watcher.status()

    def check_health(self) -> None:
        if not self.watcher.healthy:
            raise RuntimeError("model watcher stopped")
