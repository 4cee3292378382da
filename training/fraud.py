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

from actors.features import PAYMENT_FEATURES
from training.dataset import FraudRows, split_customers
from training.metrics import pr_auc, recall_at_fpr, roc_auc

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
    test_y: list[int]
    test_scores: list[float]
    baseline_scores: list[float]


def train_fraud(rows: FraudRows, test_share: float = 0.25, seed: int = 0) -> FraudResult:
    held = split_customers(rows.customers, test_share, seed)
    train = [i for i, c in enumerate(rows.customers) if c not in held]
    test = [i for i, c in enumerate(rows.customers) if c in held]
    X = np.asarray(rows.X, dtype=float)
    y = np.asarray(rows.y, dtype=int)
    model = HistGradientBoostingClassifier(**PARAMS)
    model.fit(X[train], y[train])
    scores = model.predict_proba(X[test])[:, 1].tolist()
    baseline = [rules_baseline(rows.X[i]) for i in test]
    test_y = y[test].tolist()
    metrics = {
        "pr_auc": pr_auc(test_y, scores),
        "roc_auc": roc_auc(test_y, scores),
        "recall_at_1pct_fpr": recall_at_fpr(test_y, scores, 0.01),
        "baseline_pr_auc": pr_auc(test_y, baseline),
        "baseline_roc_auc": roc_auc(test_y, baseline),
        "baseline_recall_at_1pct_fpr": recall_at_fpr(test_y, baseline, 0.01),
        "train_rows": float(len(train)),
        "test_rows": float(len(test)),
        "test_fraud_rows": float(sum(test_y)),
    }
    return FraudResult(model, metrics, test_y, scores, baseline)
