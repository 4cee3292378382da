"""The recommendation model: p(accept) for each offer of the catalogue, per customer.

A logistic regression over the customer vector, the offer (one-hot) and customer-by-offer
interactions (affinity for the offer's category, session views of it, domain activity):
cheap to batch-score for every offer, and its coefficients read as reasons. It must beat
ranking by popularity on held-out customers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from actors.catalog import OFFERS
from actors.features import offer_matrix
from training.dataset import OfferRows, split_customers
from training.metrics import ndcg_at_k, precision_at_1

PARAMS: dict[str, Any] = {"C": 0.5, "max_iter": 2000}


@dataclass
class RecommenderResult:
    estimator: Pipeline
    metrics: dict[str, float]
    # Held-out trials: did the customer accept the offer shown, and the model's p / the
    # popularity baseline's rate for it.
    test_y: list[int]
    test_scores: list[float]
    baseline_scores: list[float]


def rank_all(estimator: Any, vectors: list[list[float]]) -> list[list[str]]:
    """Offer ids by descending p(accept), for each customer vector."""
    if not vectors:
        return []
    expanded = offer_matrix(vectors)
    p = estimator.predict_proba(expanded)[:, 1].reshape(len(vectors), len(OFFERS))
    return [[OFFERS[i].offer_id for i in np.argsort(-line, kind="stable")] for line in p]


def train_recommender(
    rows: OfferRows,
    counterfactuals: list[tuple[str, float, dict[str, bool]]] | None = None,
    test_share: float = 0.25,
    seed: int = 0,
) -> RecommenderResult:
    held = split_customers(rows.customers, test_share, seed)
    train = [i for i, c in enumerate(rows.customers) if c not in held]
    test = [i for i, c in enumerate(rows.customers) if c in held]
    X = np.asarray(rows.X, dtype=float)
    y = np.asarray(rows.y, dtype=int)
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(**PARAMS))])
    model.fit(X[train], y[train])
    # Popularity: acceptance rate of each offer among training customers.
    shown: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    for i in train:
        shown[rows.offer_ids[i]] += 1
        taken[rows.offer_ids[i]] += rows.y[i]
    popularity = sorted(
        (o.offer_id for o in OFFERS),
        key=lambda o: -(taken[o] + 1) / (shown[o] + 2),
    )
    # Ranking truth for held-out trial points: which offers the customer would take.
    truth = {(c, at): accepted for c, at, accepted in counterfactuals or []}
    vectors, relevant = [], []
    for i in test:
        outcome = truth.get((rows.customers[i], rows.times[i]))
        if outcome is None:
            continue
        vectors.append(rows.customer_vectors[i])
        relevant.append({o for o, took in outcome.items() if took})
    ranked = rank_all(model, vectors)
    baseline = [popularity for _ in vectors]
    test_scores = model.predict_proba(X[test])[:, 1].tolist() if test else []
    rate = {o: (taken[o] + 1) / (shown[o] + 2) for o in shown}
    baseline_scores = [rate.get(rows.offer_ids[i], 0.0) for i in test]
    metrics = {
        "precision_at_1": precision_at_1(ranked, relevant),
        "ndcg_at_3": ndcg_at_k(ranked, relevant, 3),
        "baseline_precision_at_1": precision_at_1(baseline, relevant),
        "baseline_ndcg_at_3": ndcg_at_k(baseline, relevant, 3),
        "train_rows": float(len(train)),
        "test_points": float(len(vectors)),
    }
    return RecommenderResult(
        model, metrics, [rows.y[i] for i in test], test_scores, baseline_scores
    )
