"""Served models: a registry version turned into something that scores feature rows.

Each kind knows how to turn the rows the actors send into the estimator's input, so the
scorer deployment stays generic. Loading checks the feature-spec version first: a model
trained on other features than the running code computes would score garbage silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from actors.errors import FeatureVersionMismatchError, ModelError
from actors.model.feature_views import ENGINE_COLUMNS, FeatureViewError, positions
from actors.model.features import FEATURE_SPEC_VERSION
from actors.model.model_names import RECOMMENDER
from actors.model.offer_features import expand
from serving.linear_probability import LinearProbability
from serving.tree_probability import MAX_ROWS as TREE_MAX_ROWS
from serving.tree_probability import TreeEnsembleProbability
from training.own_models import asked_by_position
from training.registry import OWN, ModelRegistry, ModelVersion

Probability = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ServedModel:
    meta: ModelVersion
    estimator: Any
    # Same numbers as the estimator, without scikit-learn's per-call overhead, for
    # calls of at most `fast_max_rows` rows.
    fast: Probability | None = None
    fast_max_rows: int = 1 << 62
    # A team's own model: where its view's columns sit in the engine row it is sent
    # (actors.model.feature_views).
    columns: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return str(self.meta.version)

    def predict(self, rows: Sequence[Sequence[float]]) -> list[tuple[float, ...]]:
        """One tuple of probabilities per row (recommender: one per offer block of the
        row, actors.model.offer_features)."""
        if not rows:
            return []
        if self.meta.kind == RECOMMENDER:
            try:
                matrix, counts = expand(rows)
            except ValueError as error:
                raise ModelError(self.name, str(error), self.meta.version) from None
            p = self._probability(matrix).tolist() if len(matrix) else []
            out, at = [], 0
            for count in counts:
                out.append(tuple(p[at : at + count]))
                at += count
            return out
        if self.columns is not None:
            return self._predict_view(rows, self.columns)
        p = self._probability(np.asarray(rows, dtype=float))
        return [(float(x),) for x in p]

    def _predict_view(
        self, rows: Sequence[Sequence[float]], columns: tuple[int, ...]
    ) -> list[tuple[float, ...]]:
        """The view's columns of each engine row; a row missing one of them (the payment's,
        for an event that is no payment) gets no answer rather than a guess."""
        if any(len(row) != len(ENGINE_COLUMNS) for row in rows):
            widths = sorted({len(row) for row in rows})
            raise ModelError(
                self.name,
                f"rows of {widths} values where the engine row has {len(ENGINE_COLUMNS)} "
                "(a shard of another feature spec)",
                self.meta.version,
            )
        matrix = np.asarray(rows, dtype=float)[:, list(columns)]
        complete = ~np.isnan(matrix).any(axis=1)
        out: list[tuple[float, ...]] = [() for _ in rows]
        if complete.any():
            with asked_by_position():
                p = self._probability(matrix[complete])
            for i, value in zip(np.flatnonzero(complete), p, strict=True):
                out[int(i)] = (float(value),)
        return out

    def _probability(self, matrix: np.ndarray) -> np.ndarray:
        if self.fast is not None and len(matrix) <= self.fast_max_rows:
            return self.fast(matrix)
        return np.asarray(self.estimator.predict_proba(matrix)[:, 1])


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
    if meta.kind == OWN:
        try:
            columns = tuple(positions(meta.features))
        except FeatureViewError as error:
            raise ModelError(name, str(error), version) from None
        return ServedModel(meta, estimator, columns=columns)
    linear = LinearProbability.of(estimator)
    if linear is not None:
        return ServedModel(meta, estimator, linear)
    trees = TreeEnsembleProbability.of(estimator)
    if trees is not None:
        return ServedModel(meta, estimator, trees, TREE_MAX_ROWS)
    return ServedModel(meta, estimator)
