"""The bins each feature's distribution is counted in, the same in training and live.

A model records its training window's counts per bin (`training/pipeline.py`); the shards
count what the live model is asked in the same bins (`actors/turn/scoring.py`); the population
stability index per feature compares the two (`serving/drift.py`). The bins follow each
feature's meaning, fixed with the features, rather than the training data's quantiles:
live counting then needs nothing from the model, and any two versions compare.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from actors.model.bounds import CATEGORY_BUCKETS, CUSTOM_BUCKETS
from actors.model.catalog import AFFINITY_KEYS
from actors.model.feature_views import ENGINE_COLUMNS
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES
from actors.model.model_names import FRAUD, RECOMMENDER, is_own_model

# Upper edges; a value equal to an edge falls in the bin above it, and the last bin holds
# everything past the last edge.
COUNT = (0.5, 1.5, 2.5, 4.5, 8.5, 16.5, 32.5)
LOG = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
FLAG = (0.5,)
SHARE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DAYS = (1.0, 3.0, 7.0, 14.0, 30.0, 60.0, 90.0, 180.0, 364.0)
HOURS = (1.0, 6.0, 24.0, 72.0, 168.0, 720.0)
DEVIATIONS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0)
AFFINITY = (0.01, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

EDGES: dict[str, tuple[float, ...]] = {
    "amount_log": LOG,
    "amount_vs_usual": DEVIATIONS,
    "has_history": FLAG,
    "payments_1h": COUNT,
    "amount_1h_log": LOG,
    "payments_24h": COUNT,
    "amount_24h_log": LOG,
    "new_country": FLAG,
    "new_device": FLAG,
    "dormant_days_log": LOG,
    "risky_merchant": FLAG,
    "card_present": FLAG,
    "night_time": FLAG,
    "failed_logins": COUNT,
    "tenure_days_log": LOG,
    "tenure_days": DAYS,
    "hours_since_last_event": HOURS,
    "session_page_views": COUNT,
    "session_products": COUNT,
    "session_content": COUNT,
    "cart_items": COUNT,
    "cart_value_log": LOG,
    "orders": COUNT,
    "spend_log": LOG,
    "avg_order_value_log": LOG,
    "days_since_purchase": DAYS,
    "content_views_log": LOG,
    "card_payments_log": LOG,
    "offers_shown": COUNT,
    "offer_click_rate": SHARE,
    **{f"affinity_{key}": AFFINITY for key in AFFINITY_KEYS},
    **{f"session_{key}": COUNT for key in AFFINITY_KEYS},
    **{f"category_{bucket}": AFFINITY for bucket in range(CATEGORY_BUCKETS)},
    **{f"session_category_{bucket}": COUNT for bucket in range(CATEGORY_BUCKETS)},
    **{f"custom_7d_{bucket}": LOG for bucket in range(CUSTOM_BUCKETS)},
}

# The vector each live model is asked about, by model name.
MODEL_FEATURES: dict[str, tuple[str, ...]] = {
    FRAUD: PAYMENT_FEATURES,
    RECOMMENDER: CUSTOMER_FEATURES,
}


class FeatureCounter:
    """Counts rows of one feature vector into every feature's bins, as one flat list:
    feature after feature, `len(EDGES[name]) + 1` bins each."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._edges = [np.asarray(EDGES[name]) for name in self.names]
        sizes = [len(edges) + 1 for edges in self._edges]
        self._offsets = np.cumsum([0, *sizes[:-1]])
        self.counts = np.zeros(sum(sizes), dtype=np.int64)
        self.rows = 0

    def observe(self, rows: Sequence[Sequence[float]]) -> None:
        if not rows:
            return
        # A recommender row carries its candidate offers after the customer vector: the
        # vector is what is counted.
        width = len(self.names)
        if any(len(row) < width for row in rows):
            return  # another vector (a model of another spec): not this counter's rows
        matrix = np.asarray([row[:width] for row in rows], dtype=float)
        bins = np.empty(matrix.shape, dtype=np.int64)
        for j, edges in enumerate(self._edges):
            bins[:, j] = np.searchsorted(edges, matrix[:, j], side="right") + self._offsets[j]
        # A column a row does not have (the payment's, in a model-of-one's-own row for an
        # event that is no payment: actors.model.feature_views) is not counted.
        present = ~np.isnan(matrix)
        self.counts += np.bincount(bins[present], minlength=len(self.counts))
        self.rows += matrix.shape[0]

    def to_list(self) -> list[int]:
        return [int(c) for c in self.counts]

    def split(self, counts: Sequence[int]) -> dict[str, list[int]]:
        """A flat count list (this counter's layout) as counts per feature."""
        out = {}
        for j, name in enumerate(self.names):
            start = int(self._offsets[j])
            out[name] = [int(c) for c in counts[start : start + len(self._edges[j]) + 1]]
        return out


def counter_for(model: str) -> FeatureCounter | None:
    """The counter of what `model` is asked: its vector; a team's own model, the engine
    row (its view is the model server's to take, so every column is counted)."""
    names = MODEL_FEATURES.get(model)
    if names is None and is_own_model(model):
        names = ENGINE_COLUMNS
    return FeatureCounter(names) if names is not None else None
