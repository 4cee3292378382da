"""Train → evaluate → register → (optionally) promote, as plain functions for notebooks.

`engage train ...` and the demo's first start call these; a data scientist can call the
same functions from a notebook and get the same registry entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from actors.features import FEATURE_SPEC_VERSION
from actors.scoring import FRAUD, RECOMMENDER
from training.dataset import fingerprint, fraud_rows, offer_training_rows
from training.fraud import PARAMS as FRAUD_PARAMS
from training.fraud import FraudResult, train_fraud
from training.recommender import PARAMS as RECOMMENDER_PARAMS
from training.recommender import RecommenderResult, train_recommender
from training.registry import CHAMPION, ModelRegistry, ModelVersion
from training.synthetic import SyntheticDataset, generate

log = logging.getLogger(__name__)


@dataclass
class Trained:
    version: ModelVersion
    result: Any


def fit_fraud(data: SyntheticDataset) -> FraudResult:
    return train_fraud(fraud_rows(data.events, data.fraud_labels))


def fit_recommender(data: SyntheticDataset) -> RecommenderResult:
    rows = offer_training_rows(data.events, data.offer_trials)
    return train_recommender(rows, data.counterfactuals)


def register_fraud(
    registry: ModelRegistry, data: SyntheticDataset, result: FraudResult, source: str
) -> ModelVersion:
    return registry.register(
        FRAUD,
        result.estimator,
        kind=FRAUD,
        feature_spec_version=FEATURE_SPEC_VERSION,
        metrics=result.metrics,
        params={**FRAUD_PARAMS, "source": source},
        data_fingerprint=fingerprint(data.events, "fraud"),
        description="HistGradientBoosting on payment features",
    )


def register_recommender(
    registry: ModelRegistry, data: SyntheticDataset, result: RecommenderResult, source: str
) -> ModelVersion:
    return registry.register(
        RECOMMENDER,
        result.estimator,
        kind=RECOMMENDER,
        feature_spec_version=FEATURE_SPEC_VERSION,
        metrics=result.metrics,
        params={**RECOMMENDER_PARAMS, "source": source},
        data_fingerprint=fingerprint(data.events, "recommender"),
        description="Logistic regression on customer x offer features",
    )


def bootstrap_models(
    registry: ModelRegistry, customers: int = 800, days: float = 45.0, seed: int = 7
) -> dict[str, ModelVersion]:
    """First models for an empty registry: train on synthetic history and promote."""
    data = generate(customers=customers, days=days, seed=seed)
    source = f"synthetic(customers={customers}, days={days}, seed={seed})"
    out = {}
    fraud = register_fraud(registry, data, fit_fraud(data), source)
    registry.promote(FRAUD, fraud.version)
    out[FRAUD] = fraud
    recommender = register_recommender(registry, data, fit_recommender(data), source)
    registry.promote(RECOMMENDER, recommender.version)
    out[RECOMMENDER] = recommender
    log.info("bootstrapped models: %s", {k: v.version for k, v in out.items()})
    return out


def ensure_models(registry: ModelRegistry, **kwargs: Any) -> dict[str, int]:
    """Champions of both live models, bootstrapping any that is missing."""
    missing = [m for m in (FRAUD, RECOMMENDER) if registry.alias(m, CHAMPION) is None]
    if missing:
        bootstrap_models(registry, **kwargs)
    return {m: registry.alias(m, CHAMPION) or 0 for m in (FRAUD, RECOMMENDER)}
