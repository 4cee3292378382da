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

import math
from collections.abc import Sequence
from typing import Any

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
        current = [n - t for n, t in zip(now, then, strict=True)]
        baseline = [t - f for t, f in zip(then, first, strict=True)]
        if min(current) < 0 or min(baseline) < 0:
            continue
        value = psi(baseline[: len(now) - 1], current[: len(now) - 1])  # the tenths only
        if value is not None:
            out[model] = round(value, 4)
    return out
