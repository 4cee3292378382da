"""A candidate against the champion on the same recent window, with bootstrap intervals.

Both models score the same held-out rows (the most recent window of the candidate's time
split, or any window `engage models compare --from ...` reads). The rows are resampled
with replacement, the same resample for both models, so each interval reflects the
window's sampling noise and the difference's interval the paired comparison. The verdict
is `worse` only when the whole 95% interval of the difference lies below zero: the
registry then refuses to promote the candidate unless forced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from actors.model.model_names import FRAUD, RECOMMENDER, WINBACK
from training.metrics import pr_auc, recall_at_fpr, roc_auc

Metric = Callable[[Sequence[int], Sequence[float]], float]

# The metric each model is judged by, and the others shown beside it.
PRIMARY: dict[str, str] = {FRAUD: "pr_auc", RECOMMENDER: "roc_auc", WINBACK: "pr_auc"}
METRICS: dict[str, dict[str, Metric]] = {
    FRAUD: {
        "pr_auc": pr_auc,
        "roc_auc": roc_auc,
        "recall_at_1pct_fpr": lambda y, s: recall_at_fpr(y, s, 0.01),
    },
    RECOMMENDER: {"roc_auc": roc_auc, "pr_auc": pr_auc},
    WINBACK: {"pr_auc": pr_auc, "roc_auc": roc_auc},
}
BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"


def _interval(values: list[float]) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def compare_on_window(
    model: str,
    y: Sequence[int],
    candidate: Sequence[float],
    champion: Sequence[float],
    *,
    candidate_version: int | None,
    champion_version: int,
    window: tuple[float, float],
    resamples: int = 400,
    seed: int = 0,
) -> dict[str, Any]:
    """Each metric for both models with 95% intervals, the paired difference and a verdict."""
    labels = np.asarray(y, dtype=int)
    ours = np.asarray(candidate, dtype=float)
    theirs = np.asarray(champion, dtype=float)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(labels), len(labels)) for _ in range(resamples)]
    draws = [d for d in draws if 0 < labels[d].sum() < len(d)]
    metrics: dict[str, Any] = {}
    for name, metric in METRICS[model].items():
        cand = [metric(labels[d].tolist(), ours[d].tolist()) for d in draws]
        champ = [metric(labels[d].tolist(), theirs[d].tolist()) for d in draws]
        diff = [a - b for a, b in zip(cand, champ, strict=True)]
        low, high = _interval(diff) if diff else [0.0, 0.0]
        metrics[name] = {
            "candidate": metric(labels.tolist(), ours.tolist()),
            "champion": metric(labels.tolist(), theirs.tolist()),
            "candidate_ci95": _interval(cand) if cand else None,
            "champion_ci95": _interval(champ) if champ else None,
            "difference_ci95": [low, high],
            "verdict": BETTER if low > 0 else WORSE if high < 0 else UNCLEAR,
        }
    primary = PRIMARY[model]
    return {
        "candidate_version": candidate_version,
        "champion_version": champion_version,
        "primary": primary,
        "verdict": metrics[primary]["verdict"],
        "window": list(window),
        "rows": len(labels),
        "positives": int(labels.sum()),
        "resamples": len(draws),
        "metrics": metrics,
    }
