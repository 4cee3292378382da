"""Train → evaluate → report → register → (optionally) promote, as plain functions.

`engage train ...` and the demo's first start call these; a data scientist calls the same
functions from a notebook and gets the same registry entries and reports:

    from training.pipeline import train
    from training.registry import ModelRegistry
    outcome = train("fraud", ModelRegistry("redis://localhost:6379/0"), customers=3000)
    print(outcome.version.metrics, outcome.report)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from actors.events import Event, parse_event
from actors.features import FEATURE_SPEC_VERSION
from actors.scoring import FRAUD, RECOMMENDER
from training.cdnow import read_cdnow
from training.dataset import fingerprint, fraud_rows, offer_training_rows
from training.fraud import PARAMS as FRAUD_PARAMS
from training.fraud import train_fraud
from training.recommender import PARAMS as RECOMMENDER_PARAMS
from training.recommender import train_recommender
from training.registry import CHAMPION, ModelRegistry, ModelVersion
from training.report import write_report
from training.synthetic import SyntheticDataset, generate
from training.winback import PARAMS as WINBACK_PARAMS
from training.winback import train_winback

log = logging.getLogger(__name__)

WINBACK = "winback"
ModelName = Literal["recommender", "fraud", "winback"]
MODEL_NAMES: tuple[ModelName, ...] = ("recommender", "fraud", "winback")
Progress = Callable[[str], None]


@dataclass
class TrainOutcome:
    version: ModelVersion
    report: Path | None
    beats_baseline: bool


def _quiet(_: str) -> None:
    return None


def load_events(path: Path) -> list[Event]:
    """Events from a JSON-lines file, each validated by the live schema."""
    with open(path, "rb") as lines:
        return [parse_event(line) for line in lines if line.strip()]


def train(
    name: ModelName,
    registry: ModelRegistry,
    *,
    data: str = "synthetic",
    customers: int = 2000,
    days: float = 60.0,
    seed: int = 7,
    report_dir: Path | None = Path("reports"),
    promote: bool = False,
    progress: Progress = _quiet,
) -> TrainOutcome:
    """Train one model, write its report, register it; promote if asked."""
    if name == WINBACK:
        progress("loading purchase history")
        events = list(read_cdnow()) if data in ("cdnow", "synthetic") else load_events(Path(data))
        source = "CDNOW" if data in ("cdnow", "synthetic") else data
        progress(f"replaying {len(events):,} events through CustomerState and fitting")
        result: Any = train_winback(events)
        params = {**WINBACK_PARAMS, "source": source}
        description = "HistGradientBoosting: repurchase within 90 days (time split)"
        fingerprint_of = fingerprint(events, WINBACK)
        better = (
            result.metrics["roc_auc"] > result.metrics["baseline_roc_auc"]
            and result.metrics["pr_auc"] > result.metrics["baseline_pr_auc"]
        )
        baseline = "recency only"
    else:
        if data != "synthetic":
            raise ValueError(f"{name} trains on labelled synthetic data; got --data {data}")
        progress(f"generating {customers:,} synthetic customers over {days:g} days")
        dataset = generate(customers=customers, days=days, seed=seed)
        source = f"synthetic(customers={customers}, days={days:g}, seed={seed})"
        progress(f"replaying {len(dataset.events):,} events through CustomerState and fitting")
        result, params, description, better, baseline = _fit(name, dataset)
        params = {**params, "source": source}
        fingerprint_of = fingerprint(dataset.events, name)
    progress("registering")
    version = registry.register(
        name,
        result.estimator,
        kind=name,
        feature_spec_version=FEATURE_SPEC_VERSION,
        metrics=result.metrics,
        params=params,
        data_fingerprint=fingerprint_of,
        description=description,
    )
    report = None
    if report_dir is not None:
        progress("writing the evaluation report")
        curves = [
            (f"{name} v{version.version}", result.test_y, result.test_scores),
            (f"baseline: {baseline}", result.test_y, result.baseline_scores),
        ]
        report = write_report(version, curves, report_dir)
    if promote:
        registry.promote(name, version.version)
    return TrainOutcome(version, report, better)


def _fit(name: str, data: SyntheticDataset) -> tuple[Any, dict[str, Any], str, bool, str]:
    if name == FRAUD:
        fraud = train_fraud(fraud_rows(data.events, data.fraud_labels))
        m = fraud.metrics
        better = (
            m["pr_auc"] > m["baseline_pr_auc"]
            and m["recall_at_1pct_fpr"] >= m["baseline_recall_at_1pct_fpr"]
        )
        return fraud, FRAUD_PARAMS, "HistGradientBoosting on payment features", better, "rules"
    rows = offer_training_rows(data.events, data.offer_trials)
    recommender = train_recommender(rows, data.counterfactuals)
    m = recommender.metrics
    better = (
        m["precision_at_1"] > m["baseline_precision_at_1"]
        and m["ndcg_at_3"] > m["baseline_ndcg_at_3"]
    )
    description = "Logistic regression on customer-by-offer features"
    return recommender, RECOMMENDER_PARAMS, description, better, "popularity"


def bootstrap_models(
    registry: ModelRegistry, customers: int = 800, days: float = 45.0, seed: int = 7
) -> dict[str, ModelVersion]:
    """First models for an empty registry: trained on synthetic history and promoted."""
    out = {}
    for name in (FRAUD, RECOMMENDER):
        trained = train(
            name,  # type: ignore[arg-type]
            registry,
            customers=customers,
            days=days,
            seed=seed,
            report_dir=None,
            promote=True,
        )
        out[name] = trained.version
    log.info("bootstrapped models: %s", {k: v.version for k, v in out.items()})
    return out


def ensure_models(registry: ModelRegistry, **kwargs: Any) -> dict[str, int]:
    """Champions of both live models, bootstrapping when any is missing."""
    missing = [m for m in (FRAUD, RECOMMENDER) if registry.alias(m, CHAMPION) is None]
    if missing:
        bootstrap_models(registry, **kwargs)
    return {m: registry.alias(m, CHAMPION) or 0 for m in (FRAUD, RECOMMENDER)}
