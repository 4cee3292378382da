"""The win-back model: will a customer buy again within 90 days?

Rows are customers at a cutoff date, described by `features(state, cutoff)` after
replaying every purchase before the cutoff through `CustomerState` (the same features the
live actors compute); the label is whether they purchase within 90 days after it. The
split is in time: train at one cutoff, test at the next, so the test never sees the
future it predicts. The baseline it must beat ranks by recency alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from actors.events import Event
from actors.features import CUSTOMER_FEATURES, features
from actors.state import CustomerState
from training.dataset import by_customer
from training.metrics import pr_auc, roc_auc

HORIZON_S = 90 * 86_400.0
_DAYS_SINCE = CUSTOMER_FEATURES.index("days_since_purchase")

PARAMS: dict[str, Any] = {
    "max_iter": 150,
    "learning_rate": 0.06,
    "max_leaf_nodes": 15,
    "random_state": 0,
}


@dataclass
class CutoffRows:
    X: list[list[float]]
    y: list[int]
    customers: list[str]


def rows_at(
    timelines: dict[str, list[Event]], cutoff: float, horizon_s: float = HORIZON_S
) -> CutoffRows:
    out = CutoffRows([], [], [])
    for customer_id, timeline in timelines.items():
        state = CustomerState()
        later = False
        for event in timeline:
            if event.ts < cutoff:
                state.apply(event)
            elif event.ts <= cutoff + horizon_s:
                later = True
                break
        if state.orders == 0:
            continue  # not a customer yet at the cutoff
        out.X.append(features(state, cutoff))
        out.y.append(1 if later else 0)
        out.customers.append(customer_id)
    return out


def cutoffs(events: Iterable[Event], horizon_s: float = HORIZON_S) -> tuple[float, float]:
    """Train and test cutoffs: the test labels end at the last event, train's at test's."""
    last = max(e.ts for e in events)
    test = last - horizon_s
    return test - horizon_s, test


@dataclass
class WinbackResult:
    estimator: HistGradientBoostingClassifier
    metrics: dict[str, float]
    test_y: list[int]
    test_scores: list[float]
    baseline_scores: list[float]


def train_winback(events: list[Event], progress: Iterator[Any] | None = None) -> WinbackResult:
    timelines = by_customer(events)
    train_cut, test_cut = cutoffs(events)
    train = rows_at(timelines, train_cut)
    test = rows_at(timelines, test_cut)
    model = HistGradientBoostingClassifier(**PARAMS)
    model.fit(np.asarray(train.X), np.asarray(train.y))
    scores = model.predict_proba(np.asarray(test.X))[:, 1].tolist()
    baseline = [-row[_DAYS_SINCE] for row in test.X]
    metrics = {
        "roc_auc": roc_auc(test.y, scores),
        "pr_auc": pr_auc(test.y, scores),
        "baseline_roc_auc": roc_auc(test.y, baseline),
        "baseline_pr_auc": pr_auc(test.y, baseline),
        "train_rows": float(len(train.y)),
        "test_rows": float(len(test.y)),
        "test_positive_rate": sum(test.y) / len(test.y) if test.y else 0.0,
        "train_cutoff": train_cut,
        "test_cutoff": test_cut,
    }
    return WinbackResult(model, metrics, test.y, scores, baseline)
