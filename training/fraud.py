"""The fraud model: p(fraud) for a card payment, from `payment_features`.

A histogram gradient-boosted classifier: it finds the interactions that matter (a large
amount *and* a new country) without hand-made crosses, and predicts a batch of rows in
microseconds per row. The baseline it must beat is the rule set fraud teams start with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from actors.model.features import PAYMENT_FEATURES
from training.dataset import FraudRows
from training.metrics import calibration_metrics, pr_auc, recall_at_fpr, roc_auc
from training.split import TimeSplit

_F = {name: i for i, name in enumerate(PAYMENT_FEATURES)}

PARAMS: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.08,
    "max_leaf_nodes": 31,
    "l2_regularization": 1.0,
    "class_weight": "balanced",
    "random_state": 0,
}


def rules_baseline(row: list[float]) -> float:
    """What a rules engine would flag: velocity, new place, unusual amount, risky merchant."""
    score = 0.0
    score += 1.0 if row[_F["payments_1h"]] >= 3 else 0.0
    score += 1.0 if row[_F["new_country"]] else 0.0
    score += 1.0 if row[_F["new_device"]] else 0.0
    score += 1.0 if row[_F["amount_vs_usual"]] >= 2.0 else 0.0
    score += 0.5 if row[_F["risky_merchant"]] else 0.0
    return score / 4.5


@dataclass
class FraudResult:
    estimator: HistGradientBoostingClassifier
    metrics: dict[str, float]
    test_X: list[list[float]]
    test_y: list[int]
    test_scores: list[float]
    baseline_scores: list[float]


def fraud_metrics(y: list[int], scores: list[float]) -> dict[str, float]:
    """What a fraud team reads: ranking quality, and what is caught at a 1% false-alarm rate."""
    return {
        "pr_auc": pr_auc(y, scores),
        "roc_auc": roc_auc(y, scores),
        "recall_at_1pct_fpr": recall_at_fpr(y, scores, 0.01),
    }


def train_fraud(rows: FraudRows, split: TimeSplit) -> FraudResult:
    """Fit on the split's past, evaluate on its recent window. Fraud is rare: classes are
    weighted to balance (`class_weight`), so a score ranks rather than estimates p(fraud)
    and the report's calibration shows by how much."""
    X = np.asarray(rows.X, dtype=float)
    y = np.asarray([label or 0 for label in rows.y], dtype=int)
    model = HistGradientBoostingClassifier(**PARAMS)
    model.fit(X[split.train], y[split.train])
    test_X = X[split.test]
    scores = model.predict_proba(test_X)[:, 1].tolist()
    baseline = [rules_baseline(rows.X[i]) for i in split.test]
    test_y = y[split.test].tolist()
    metrics = {
        **fraud_metrics(test_y, scores),
        **{f"baseline_{k}": v for k, v in fraud_metrics(test_y, baseline).items()},
        **calibration_metrics(test_y, scores),
        "train_rows": float(len(split.train)),
        "test_rows": float(len(split.test)),
        "test_fraud_rows": float(sum(test_y)),
    }
    return FraudResult(model, metrics, test_X.tolist(), test_y, scores, baseline)
