"""Evaluation metrics for the reports: ranking and imbalanced classification."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def precision_at_1(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> float:
    if not rankings:
        return 0.0
    hits = sum(
        1 for ranked, good in zip(rankings, relevant, strict=True) if ranked and ranked[0] in good
    )
    return hits / len(rankings)


def ndcg_at_k(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int = 3) -> float:
    """Mean NDCG@k with binary relevance; lists with nothing relevant count as 0."""
    if not rankings:
        return 0.0
    total = 0.0
    for ranked, good in zip(rankings, relevant, strict=True):
        dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in good)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(good))))
        total += dcg / ideal if ideal else 0.0
    return total / len(rankings)


def pr_auc(y: Sequence[int], scores: Sequence[float]) -> float:
    return float(average_precision_score(y, scores)) if sum(y) else 0.0


def roc_auc(y: Sequence[int], scores: Sequence[float]) -> float:
    return float(roc_auc_score(y, scores)) if 0 < sum(y) < len(y) else 0.5


def recall_at_fpr(y: Sequence[int], scores: Sequence[float], max_fpr: float = 0.01) -> float:
    """Share of positives caught while flagging at most `max_fpr` of the negatives."""
    if not sum(y) or sum(y) == len(y):
        return 0.0
    fpr, tpr, _ = roc_curve(np.asarray(y), np.asarray(scores))
    allowed = tpr[fpr <= max_fpr]
    return float(allowed.max()) if allowed.size else 0.0


def calibration_bins(
    y: Sequence[int], scores: Sequence[float], bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean score, observed positive rate, rows) for each non-empty score decile."""
    out = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    s = np.asarray(scores, dtype=float)
    labels = np.asarray(y, dtype=float)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append((float(s[mask].mean()), float(labels[mask].mean()), int(mask.sum())))
    return out


def calibration_metrics(y: Sequence[int], scores: Sequence[float]) -> dict[str, float]:
    """Brier score and expected calibration error (row-weighted gap per score decile)."""
    if not len(y):
        return {"brier": 0.0, "calibration_error": 0.0}
    s = np.asarray(scores, dtype=float)
    labels = np.asarray(y, dtype=float)
    gap = sum(n * abs(mean - rate) for mean, rate, n in calibration_bins(y, scores))
    return {
        "brier": float(np.mean((s - labels) ** 2)),
        "calibration_error": float(gap / len(y)),
    }
