"""The scoring contract between customer actors and the model server.

`actors` depends only on this protocol; `serving` implements it with a Ray Serve
deployment handle. A request is a list of feature rows for one model; the answer is one
`Score` per row, all from a single model version (the server never mixes versions inside
one request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from actors.errors import EngageError, ScorerUnavailableError
from actors.metrics import Histogram
from actors.model.feature_bins import FeatureCounter, counter_for
from actors.model.model_names import FRAUD, RECOMMENDER

# The models every batch may prefetch; WINBACK is asked only by rules that read it.
MODELS = (FRAUD, RECOMMENDER)


@dataclass(frozen=True, slots=True)
class Score:
    """A model's answer for one row. Recommender: one probability per catalogue offer."""

    model: str
    version: str
    values: tuple[float, ...]


class Scorer(Protocol):
    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        """Score `rows` with the champion of `model`. Raises ScorerUnavailableError."""
        ...


@dataclass
class _Pending:
    rows: list[Sequence[float]] = field(default_factory=list)
    waiters: list[asyncio.Future[Score]] = field(default_factory=list)


# Tenths of probability: the buckets of the live score distributions.
SCORE_BUCKETS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))


def headline(score: Score) -> float:
    """One figure per answer for its distribution: a fraud model's probability, a
    recommender's best offer's probability."""
    return max(score.values) if score.values else 0.0


class CoalescingScorer:
    """Merges the requests of concurrently running turns into one call per model.

    A shard runs many customers' turns at once; each asks for one row. Crossing the
    process boundary once per row would cost ~1.7 ms each, so rows asked for within one
    event-loop tick travel together.
    """

    def __init__(self, inner: Scorer, max_rows: int = 4096, timeout_s: float = 10.0) -> None:
        self._inner = inner
        self._max_rows = max_rows
        # A model server that does not answer fails the call after this long: an outage,
        # so the batch is retried (ingest's bound applies), never a turn waiting for ever.
        self._timeout_s = timeout_s
        self._pending: dict[str, _Pending] = {}
        self._running: set[asyncio.Task[None]] = set()
        # Milliseconds per call to the model server (one call scores many rows).
        self.latency_ms = Histogram()
        # What each model answers live, per model: the distribution operators compare
        # with the training window's (a moving distribution is drift).
        self.distributions: dict[str, Histogram] = {}
        # What each model is asked, per feature, in the bins of `actors.model.feature_bins`: the
        # live side of the per-feature drift against the training window.
        self.feature_counts: dict[str, FeatureCounter] = {}

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(model)
        if pending is None:
            pending = self._pending[model] = _Pending()
            # Flushed two ticks on: a turn asking for two models at once gathers them,
            # and gathered coroutines start a tick later than a turn awaiting one. One
            # tick would send their rows apart from the other turns' (two round trips).
            loop.call_soon(loop.call_soon, self._flush, model)
        futures = []
        for row in rows:
            future: asyncio.Future[Score] = loop.create_future()
            pending.rows.append(row)
            pending.waiters.append(future)
            futures.append(future)
        if len(pending.rows) >= self._max_rows:
            self._flush(model)
        return list(await asyncio.gather(*futures))

    def _observe(
        self, model: str, rows: Sequence[Sequence[float]], scores: Sequence[Score]
    ) -> None:
        histogram = self.distributions.get(model)
        if histogram is None:
            histogram = self.distributions[model] = Histogram(SCORE_BUCKETS)
        for score in scores:
            histogram.observe(headline(score))
        counter = self.feature_counts.get(model)
        if counter is None:
            counter = counter_for(model)
            if counter is None:
                return
            self.feature_counts[model] = counter
        counter.observe(rows)

    def _flush(self, model: str) -> None:
        pending = self._pending.pop(model, None)
        if pending is None or not pending.rows:
            return
        task = asyncio.ensure_future(self._run(model, pending))
        # Keep a reference: the event loop holds tasks only weakly.
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, model: str, pending: _Pending) -> None:
        started = time.perf_counter()
        try:
            scores = await asyncio.wait_for(
                self._inner.score(model, pending.rows), timeout=self._timeout_s
            )
        except TimeoutError:
            silent = ScorerUnavailableError(model, f"no answer within {self._timeout_s:g} s")
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.set_exception(silent)
            return
        except BaseException as caught:  # delivered to every waiter, never swallowed
            # Whatever the model server's client raised, it is an outage of the scorer:
            # a turn must not mistake it for its event's fault and dead-letter the event.
            error: BaseException = (
                caught
                if isinstance(caught, EngageError) or not isinstance(caught, Exception)
                else ScorerUnavailableError(model, f"{type(caught).__name__}: {caught}")
            )
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        self.latency_ms.observe((time.perf_counter() - started) * 1000)
        self._observe(model, pending.rows, scores)
        for waiter, score in zip(pending.waiters, scores, strict=True):
            if not waiter.done():
                waiter.set_result(score)
