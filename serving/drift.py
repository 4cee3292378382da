"""Has what a model answers moved? The population stability index (PSI) of its live
scores in the last hour against the day before, from the samples the dashboard keeps.

PSI = sum over the tenths of probability of (current share - baseline share) *
ln(current share / baseline share). Under 0.1 the distribution is stable, 0.1-0.2 it is
moving, over 0.2 it has moved (the usual reading of the index). A window with too few
scores has no index: noise is not drift. The baseline is the scores given before the last
hour; the training window's own distribution as the baseline comes with retraining from
collected events.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, Protocol

from actors.errors import ModelError
from actors.model.feature_bins import FeatureCounter
from training.registry import ModelVersion

CURRENT_S = 3600.0
BASELINE_S = 24 * 3600.0
MIN_SCORES = 200
_EMPTY = 1e-4  # the share given to an empty tenth, so that a new tenth counts, finitely


def psi(baseline: Sequence[float], current: Sequence[float]) -> float | None:
    """The index of two count vectors over the same buckets, None when either is short."""
    base_total, current_total = sum(baseline), sum(current)
    if base_total < MIN_SCORES or current_total < MIN_SCORES:
        return None
    index = 0.0
    for b, c in zip(baseline, current, strict=True):
        p = max(b / base_total, _EMPTY)
        q = max(c / current_total, _EMPTY)
        index += (q - p) * math.log(q / p)
    return index


def _increase(then: Sequence[int], now: Sequence[int]) -> list[int] | None:
    """What was counted between two cumulative samples; None when a count went down (a
    shard restarted in between, so the window cannot be used)."""
    diff = [n - t for n, t in zip(now, then, strict=True)]
    return None if min(diff, default=0) < 0 else diff


def score_drift(
    oldest: dict[str, Any] | None, middle: dict[str, Any] | None, newest: dict[str, Any] | None
) -> dict[str, float]:
    """Per model, the PSI of the scores counted between `middle` and `newest` (the last
    hour) against those between `oldest` and `middle` (the day before). Samples hold
    cumulative counts per shard lifetime: a count that went down (a restarted shard) makes
    that window unusable, and the model has no index."""
    if oldest is None or middle is None or newest is None:
        return {}
    out: dict[str, float] = {}
    for model, now in (newest.get("scores") or {}).items():
        then = (middle.get("scores") or {}).get(model)
        first = (oldest.get("scores") or {}).get(model)
        if then is None or first is None:
            continue
        current, baseline = _increase(then, now), _increase(first, then)
        if current is None or baseline is None:
            continue
        value = psi(baseline[: len(now) - 1], current[: len(now) - 1])  # the tenths only
        if value is not None:
            out[model] = round(value, 4)
    return out


# Drift against the training window: per feature and for the scores, the live counts of
# the last `LIVE_S` against the counts the model recorded over its training rows.
LIVE_S = 3600.0
THRESHOLD = 0.2  # "has moved": the alert and `engage models drift` flag a PSI above it


def _window(
    older: dict[str, Any] | None, newest: dict[str, Any] | None, part: str, model: str
) -> list[int] | None:
    """The counts between two cumulative samples, None when there are none to use."""
    if older is None or newest is None:
        return None
    now = (newest.get(part) or {}).get(model)
    then = (older.get(part) or {}).get(model)
    if now is None:
        return None
    if then is None or len(then) != len(now):
        then = [0] * len(now)  # the model's first counts fall inside the window
    return _increase(then, now)


def training_drift(
    model: str,
    reference: dict[str, Any],
    older: dict[str, Any] | None,
    newest: dict[str, Any] | None,
) -> dict[str, Any]:
    """The PSI of each feature and of the scores, live (between two cumulative samples of
    the feature series) against the model's training window (`reference`, recorded at
    training). Features without enough live rows have no index."""
    names = reference.get("feature_names") or []
    counter = FeatureCounter(names)
    out: dict[str, Any] = {"model": model, "features": {}, "score": None, "live_rows": 0}
    live = _window(older, newest, "features", model)
    trained = reference.get("features")
    if live is not None and trained is not None and len(live) == len(trained):
        now, then = counter.split(live), counter.split(trained)
        for name in names:
            value = psi(then[name], now[name])
            if value is not None:
                out["features"][name] = round(value, 4)
        out["live_rows"] = sum(now[names[0]]) if names else 0
    scores = _window(older, newest, "scores", model)
    trained_scores = reference.get("scores")
    if scores is not None and trained_scores is not None:
        value = psi(trained_scores[: len(scores) - 1], scores[: len(scores) - 1])
        out["score"] = None if value is None else round(value, 4)
    drifted = [n for n, v in out["features"].items() if v > THRESHOLD]
    out["drifted_features"] = sorted(drifted, key=lambda n: -out["features"][n])
    out["drifted"] = bool(drifted) or (out["score"] is not None and out["score"] > THRESHOLD)
    return out


class _Registry(Protocol):
    def alias(self, name: str, alias: str) -> int | None: ...

    def get(self, name: str, version: int) -> ModelVersion: ...


class _Samples(Protocol):
    async def aged(self, ages_s: Sequence[float]) -> list[dict[str, Any] | None]: ...


async def champion_drift(
    registry: _Registry, features: _Samples, model: str, window_s: float = LIVE_S
) -> dict[str, Any]:
    """The champion's live window against its training window. `ModelError` when the model
    has no champion or its champion recorded no training window; Redis errors pass."""
    champion = await asyncio.to_thread(registry.alias, model, "champion")
    if champion is None:
        raise ModelError(model, "no champion")
    meta = await asyncio.to_thread(registry.get, model, champion)
    reference = meta.data.get("reference")
    if not reference:
        raise ModelError(
            model,
            "the champion recorded no training window to compare with (a model no shard "
            "asks live, or one registered before training windows were recorded)",
            champion,
        )
    older, newest = await features.aged([window_s, 0])
    # A series younger than the window: everything counted so far is the live window.
    result = training_drift(model, reference, older or {}, newest)
    result.update(
        version=champion,
        window_s=window_s,
        threshold=THRESHOLD,
        since=older.get("t") if older else None,
        until=newest.get("t") if newest else None,
    )
    return result
