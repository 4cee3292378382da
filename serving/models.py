"""Served models: a registry version turned into something that scores feature rows.

Each kind knows how to turn the rows the actors send into the estimator's input, so the
scorer deployment stays generic. Loading checks the feature-spec version first: a model
trained on other features than the running code computes would score garbage silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from actors.catalog import OFFERS
from actors.errors import FeatureVersionMismatchError, ModelError
from actors.features import FEATURE_SPEC_VERSION, offer_matrix
from training.registry import ModelRegistry, ModelVersion


@dataclass(frozen=True)
class ServedModel:
    meta: ModelVersion
    estimator: Any

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return str(self.meta.version)

    def predict(self, rows: Sequence[Sequence[float]]) -> list[tuple[float, ...]]:
        """One tuple of probabilities per row (recommender: one per catalogue offer)."""
        if not rows:
            return []
        if self.meta.kind == "recommender":
            expanded = offer_matrix(rows)
            p = self.estimator.predict_proba(expanded)[:, 1].reshape(len(rows), len(OFFERS))
            return [tuple(float(x) for x in line) for line in p]
        matrix = np.asarray(rows, dtype=float)
        p = self.estimator.predict_proba(matrix)[:, 1]
        return [(float(x),) for x in p]


def check_feature_version(meta: ModelVersion) -> None:
    if meta.feature_spec_version != FEATURE_SPEC_VERSION:
        raise FeatureVersionMismatchError(
            meta.name, meta.version, meta.feature_spec_version, FEATURE_SPEC_VERSION
        )


def load_served(registry: ModelRegistry, name: str, version: int) -> ServedModel:
    meta, estimator = registry.load(name, version)
    check_feature_version(meta)
    if not hasattr(estimator, "predict_proba"):
        raise ModelError(name, "estimator has no predict_proba", version)
    return ServedModel(meta, estimator)
