"""The win-back model: will a customer buy again within 90 days?

Rows are customers at a cutoff date, described by `features(state, cutoff)` after
replaying every purchase before the cutoff through `CustomerState` (the same features the
live actors compute); the label is whether they purchase within 90 days after it. The
split is in time: train at one cutoff, test at the next, so the test never sees the
future it predicts. The baseline it must beat ranks by recency alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from actors.errors import TrainingDataError
from actors.model.events import Event
from actors.model.features import CUSTOMER_FEATURES, features
from actors.model.labels import WINBACK, LabelSpec, won_back
from actors.model.state import CustomerState
from training.dataset import by_customer, last_event_time
from training.metrics import calibration_metrics, pr_auc, roc_auc
from training.split import LabelCounts

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


def rows_at(timelines: dict[str, list[Event]], cutoff: float, spec: LabelSpec) -> CutoffRows:
    """Customers who had bought by `cutoff` and were quiet for `spec.quiet_s` before it,
    described at it; won back if they purchase within the label window after it
    (`actors.model.labels.won_back`)."""
    out = CutoffRows([], [], [])
    for customer_id, timeline in timelines.items():
        state = CustomerState()
        came_back: float | None = None
        for event in timeline:
            if event.ts < cutoff:
                state.apply(event)
            elif won_back(event):
                came_back = event.ts
                break
        if state.orders == 0:
            continue  # not a customer yet at the cutoff
        last = state.last_event_at
        if last is not None and cutoff - last < spec.quiet_s:
            continue  # active lately: no reminder would ask about them
        label = spec.label(cutoff, came_back, cutoff + spec.window_s)
        out.X.append(features(state, cutoff))
        out.y.append(label or 0)
        out.customers.append(customer_id)
    return out


def cutoffs(as_of: float, window_s: float) -> tuple[float, float]:
    """Train and test cutoffs: the test labels settle at `as_of`, train's at the test cutoff."""
    test = as_of - window_s
    return test - window_s, test


@dataclass
class WinbackResult:
    estimator: HistGradientBoostingClassifier
    metrics: dict[str, float]
    counts: LabelCounts
    test_X: list[list[float]]
    test_y: list[int]
    test_scores: list[float]
    baseline_scores: list[float]


def train_winback(
    events: Sequence[Event], spec: LabelSpec = WINBACK, as_of: float | None = None
) -> WinbackResult:
    as_of = last_event_time(events) if as_of is None else as_of
    timelines = by_customer(events)
    train_cut, test_cut = cutoffs(as_of, spec.window_s)
    train = rows_at(timelines, train_cut, spec)
    test = rows_at(timelines, test_cut, spec)
    counts = LabelCounts(
        rows=len(train.y) + len(test.y),
        pending=0,
        embargoed=0,
        train_rows=len(train.y),
        train_positives=sum(train.y),
        test_rows=len(test.y),
        test_positives=sum(test.y),
        train_from=train_cut,
        train_until=train_cut,
        test_from=test_cut,
        test_until=test_cut,
        as_of=as_of,
        label_window_s=spec.window_s,
    )
    for side, rows in (("training", train), ("test", test)):
        if not 0 < sum(rows.y) < len(rows.y):
            raise TrainingDataError(
                f"winback: the {side} cutoff has {len(rows.y):,} customers and "
                f"{sum(rows.y):,} won back; both classes are needed ({counts.as_dict()})"
            )
    model = HistGradientBoostingClassifier(**PARAMS)
    model.fit(np.asarray(train.X), np.asarray(train.y))
    scores = model.predict_proba(np.asarray(test.X))[:, 1].tolist()
    baseline = [-row[_DAYS_SINCE] for row in test.X]
    metrics = {
        "roc_auc": roc_auc(test.y, scores),
        "pr_auc": pr_auc(test.y, scores),
        "baseline_roc_auc": roc_auc(test.y, baseline),
        "baseline_pr_auc": pr_auc(test.y, baseline),
        **calibration_metrics(test.y, scores),
        "train_rows": float(len(train.y)),
        "test_rows": float(len(test.y)),
        "test_positive_rate": sum(test.y) / len(test.y),
        "train_cutoff": train_cut,
        "test_cutoff": test_cut,
    }
    return WinbackResult(model, metrics, counts, test.X, test.y, scores, baseline)
