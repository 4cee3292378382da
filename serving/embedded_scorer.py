"""`actors.turn.scoring.Scorer` that scores inside the calling shard's own process.

The same champions and challengers as the Scorer deployment, loaded from the same
registry and hot-swapped by the same `ModelWatcher` (off the request path, one reference
assignment), with challengers scored in shadow the same way. What it saves is the hop:
a customer's events are applied one after another, and each one a rule must score waits
for its answer before the next can run, so a Serve round trip (16 ms at best on two
cores, over 100 ms when busy) is paid once per scored event of the longest session in
a batch. Here an answer costs the model's own time. See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actors.errors import EngageError
from actors.turn.scoring import Score
from serving.model_set import score_batch
from serving.watcher import ModelWatcher


class EmbeddedScorer:
    def __init__(self, watcher: ModelWatcher) -> None:
        self.watcher = watcher

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        answers, shadow = score_batch(self.watcher.models, [(model, rows)])
        if shadow:
            self.watcher.log_shadow(shadow)  # queued: written by the watcher's own task
        result = answers[0]
        if isinstance(result, EngageError):
            raise result
        return result


@dataclass(frozen=True)
class EmbeddedScorerFactory:
    """Picklable recipe handed to shards: builds an EmbeddedScorer in the shard's process
    (which must be running its event loop: the watcher polls the registry from it)."""

    redis_url: str
    prefix: str
    poll_s: float = 0.5

    def __call__(self) -> EmbeddedScorer:
        return EmbeddedScorer(ModelWatcher(self.redis_url, self.prefix, self.poll_s))
