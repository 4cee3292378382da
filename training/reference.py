"""A model's training window as drift compares it: counts per feature bin and score tenth.

Recorded with every version of a live model (`ModelVersion.data["reference"]`), counted
over its training rows in the bins the shards count live rows in (`actors.model.feature_bins`),
with the scores it gives those rows in the tenths the shards count live scores in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from actors.metrics import Histogram
from actors.model.catalog import OFFERS
from actors.model.feature_bins import counter_for
from actors.model.features import offer_matrix
from actors.model.model_names import RECOMMENDER
from actors.turn.scoring import SCORE_BUCKETS


def live_scores(model: str, estimator: Any, vectors: Sequence[Sequence[float]]) -> list[float]:
    """What the live model's distribution counts for each vector (`actors.turn.scoring.headline`):
    p(fraud) of a payment; the best offer's p(accept) for a customer."""
    if not vectors:
        return []
    if model == RECOMMENDER:
        p = estimator.predict_proba(offer_matrix(vectors))[:, 1]
        return [float(v) for v in p.reshape(len(vectors), len(OFFERS)).max(axis=1)]
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
