"""The recommendation model: p(accept) for a customer and an offer of the catalogue.

A logistic regression over the customer vector, the offer's attributes (value, price,
domain, categories hashed into buckets) and the customer's relation to the offer (its
affinity to the offer's categories, their share, session views of them, activity in the
domain): actors.model.offer_features. No column names an offer, so an offer added after
training, in a category it never saw, is scored from what it is. Cheap to score for every
candidate, and its coefficients read as reasons. It must beat ranking by popularity on
the most recent window.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from actors.catalog.catalog import Catalog, built_in
from actors.model.offer_features import pair_rows
from training.dataset import OfferRows
from training.metrics import calibration_metrics, ndcg_at_k, precision_at_1, roc_auc
from training.recommender_eval import by_catalog_size, new_offer_metrics
from training.split import TimeSplit

PARAMS: dict[str, Any] = {"C": 0.5, "max_iter": 2000}


@dataclass
class RecommenderResult:
    estimator: Pipeline
    metrics: dict[str, float]
    # Held-out offers shown: their rows, whether the customer took the offer, and the
    # model's p / the popularity baseline's rate for it.
    test_X: list[list[float]]
    test_y: list[int]
    test_scores: list[float]
    baseline_scores: list[float]


def rank_all(
    estimator: Any,
    vectors: list[list[float]],
    affinities: list[dict[str, float]],
    catalog: Catalog | None = None,
) -> list[list[str]]:
    """The catalogue's offer ids by descending p(accept), for each customer."""
    offers = (catalog or built_in()).offers
    ranked = []
    for vector, drawn in zip(vectors, affinities, strict=True):
        p = estimator.predict_proba(pair_rows(vector, drawn, offers))[:, 1]
        ranked.append([offers[i].offer_id for i in np.argsort(-p, kind="stable")])
    return ranked


def fit(X: np.ndarray, y: np.ndarray) -> Pipeline:
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(**PARAMS))])
    model.fit(X, y)
    return model


def train_recommender(
    rows: OfferRows,
    split: TimeSplit,
    counterfactuals: list[tuple[str, float, dict[str, bool]]] | None = None,
    catalog: Catalog | None = None,
) -> RecommenderResult:
    """Fit on the split's past; evaluate on its recent window. Every source gives the
    offers shown and taken (ROC AUC against popularity); generated data also knows what
    the customer would have done with every other offer, so it adds ranking metrics."""
    train, test = split.train, split.test
    X = np.asarray(rows.X, dtype=float)
    y = np.asarray([label or 0 for label in rows.y], dtype=int)
    model = fit(X[train], y[train])
    # Popularity: acceptance rate of each offer among the training rows.
    shown: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    for i in train:
        shown[rows.offer_ids[i]] += 1
        taken[rows.offer_ids[i]] += int(y[i])
    offers = (catalog or built_in()).offers
    rate = {o.offer_id: (taken[o.offer_id] + 1) / (shown[o.offer_id] + 2) for o in offers}
    popularity = sorted(rate, key=lambda o: -rate[o])
    test_X = X[test]
    test_y = y[test].tolist()
    test_scores = model.predict_proba(test_X)[:, 1].tolist() if test else []
    baseline_scores = [rate[rows.offer_ids[i]] for i in test]
    metrics = {
        "roc_auc": roc_auc(test_y, test_scores),
        "baseline_roc_auc": roc_auc(test_y, baseline_scores),
        **calibration_metrics(test_y, test_scores),
        "train_rows": float(len(train)),
        "test_rows": float(len(test)),
        **new_offer_metrics(rows, split, fit),
    }
    # Ranking truth for held-out trial points: which offers the customer would take.
    truth = {(c, at): accepted for c, at, accepted in counterfactuals or []}
    vectors, drawn, relevant = [], [], []
    for i in test:
        outcome = truth.get((rows.customers[i], rows.times[i]))
        if outcome is not None:
            vectors.append(rows.customer_vectors[i])
            drawn.append(rows.affinities[i])
            relevant.append({o for o, took in outcome.items() if took})
    if vectors:
        ranked = rank_all(model, vectors, drawn, catalog)
        baseline = [popularity for _ in vectors]
        metrics |= {
            "precision_at_1": precision_at_1(ranked, relevant),
            "ndcg_at_3": ndcg_at_k(ranked, relevant, 3),
            "baseline_precision_at_1": precision_at_1(baseline, relevant),
            "baseline_ndcg_at_3": ndcg_at_k(baseline, relevant, 3),
            "test_points": float(len(vectors)),
            **by_catalog_size(
                model, rate, offers, list(zip(vectors, drawn, relevant, strict=True))
            ),
        }
    return RecommenderResult(model, metrics, test_X.tolist(), test_y, test_scores, baseline_scores)
