"""A model's training window as drift compares it: counts per feature bin and score tenth.

Recorded with every version of a live model (`ModelVersion.data["reference"]`), counted
over its training rows in the bins the shards count live rows in (`actors.model.feature_bins`),
with the scores it gives those rows in the tenths the shards count live scores in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from actors.catalog.catalog import Catalog, built_in
from actors.metrics import Histogram
from actors.model.feature_bins import counter_for
from actors.model.model_names import RECOMMENDER
from actors.model.offer_features import expand
from actors.turn.offers import Audience, eligible, recommender_row
from actors.turn.scoring import SCORE_BUCKETS
from training.dataset import OfferRows


def offer_requests(
    rows: OfferRows, positions: Sequence[int], catalog: Catalog | None = None
) -> list[list[float]]:
    """The recommender requests the training window's customers would have made: each
    customer vector with the catalogue's offers (its candidates, for a large one)."""
    catalog = catalog or built_in()
    requests = []
    for i in positions:
        vector, drawn = rows.customer_vectors[i], rows.affinities[i]
        offers = eligible(catalog, audience=Audience(affinities=drawn))
        requests.append(recommender_row(vector, drawn, offers))
    return requests


def live_scores(model: str, estimator: Any, vectors: Sequence[Sequence[float]]) -> list[float]:
    """What the live model's distribution counts for each row (`actors.turn.scoring.headline`):
    p(fraud) of a payment; the best offer's p(accept) of a recommender request."""
    if not vectors:
        return []
    if model == RECOMMENDER:
        matrix, counts = expand(vectors)
        p = estimator.predict_proba(matrix)[:, 1] if len(matrix) else np.zeros(0)
        best, at = [], 0
        for count in counts:
            best.append(float(p[at : at + count].max()) if count else 0.0)
            at += count
        return best
    return [float(v) for v in estimator.predict_proba(np.asarray(vectors, dtype=float))[:, 1]]


def reference_profile(
    model: str, estimator: Any, vectors: Sequence[Sequence[float]]
) -> dict[str, Any] | None:
    """None for a model no shard asks live (win-back): there is nothing to compare."""
    counter = counter_for(model)
    if counter is None:
        return None
    counter.observe(vectors)
    scores = Histogram(SCORE_BUCKETS)
    for value in live_scores(model, estimator, vectors):
        scores.observe(value)
    return {
        "feature_names": list(counter.names),
        "features": counter.to_list(),
        "scores": list(scores.counts),
        "rows": counter.rows,
    }
