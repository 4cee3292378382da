"""Train → evaluate → compare → report → register → (optionally) promote, as functions.

`engage train ...` and the demo's first start call these; a data scientist calls the same
functions from a notebook and gets the same registry entries and reports:

    from training.pipeline import train
    from training.registry import ModelRegistry
    from training.sources import generated
    outcome = train("fraud", ModelRegistry("redis://localhost:6379/0"), generated(3000))
    print(outcome.version.metrics, outcome.report)

Every source goes through the same replay (`training.dataset`), the labels of
`actors.model.labels`, the time split (`training.split`), and, when a champion exists, a
comparison with it on the same recent window (`training.champion`). The version records
where its data came from, the label counts and time ranges, the seed and the code version,
so the run can be repeated.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actors.errors import ModelError
from actors.model.features import FEATURE_SPEC_VERSION
from actors.model.labels import LABELS, LabelSpec
from actors.model.model_names import FRAUD, MODEL_NAMES, RECOMMENDER, WINBACK, ModelName
from training.cdnow import DatasetMissingError
from training.champion import compare_on_window
from training.dataset import (
    FraudRows,
    OfferRows,
    by_customer,
    fingerprint,
    fraud_rows,
    offer_training_rows,
)
from training.fraud import PARAMS as FRAUD_PARAMS
from training.fraud import train_fraud
from training.provenance import code_version
from training.recommender import PARAMS as RECOMMENDER_PARAMS
from training.recommender import train_recommender
from training.reference import offer_requests, reference_profile
from training.registry import CHAMPION, ModelRegistry, ModelVersion
from training.report import write_report
from training.sources import TrainingData, cdnow, generated
from training.split import LabelCounts, TimeSplit, time_split
from training.winback import PARAMS as WINBACK_PARAMS
from training.winback import cutoffs, rows_at, train_winback

log = logging.getLogger(__name__)

__all__ = ["MODEL_NAMES", "ModelName"]  # named once in actors.model.model_names
Progress = Callable[[str], None]


@dataclass
class TrainOutcome:
    version: ModelVersion
    report: Path | None
    beats_baseline: bool
    comparison: dict[str, Any] | None = None


@dataclass
class Fitted:
    result: Any  # FraudResult | RecommenderResult | WinbackResult
    counts: LabelCounts
    params: dict[str, Any]
    description: str
    baseline: str
    beats_baseline: bool
    # The training window's counts per feature bin and score tenth (`training.reference`).
    reference: dict[str, Any] | None = None


def _quiet(_: str) -> None:
    return None


def labelled_rows(
    name: str, data: TrainingData, spec: LabelSpec, test_share: float
) -> tuple[FraudRows | OfferRows, TimeSplit]:
    """The fraud or recommender rows of `data` with their labels, and their time split."""
    rows: FraudRows | OfferRows = (
        fraud_rows(data.events, spec, data.as_of)
        if name == FRAUD
        else offer_training_rows(data.events, spec, data.as_of, data.catalog)
    )
    split = time_split(
        rows.times,
        rows.y,
        window_s=spec.window_s,
        as_of=data.as_of,
        test_share=test_share,
        model=name,
    )
    return rows, split


def fit(name: str, data: TrainingData, spec: LabelSpec, test_share: float = 0.25) -> Fitted:
    """Rows from the events, the time split, the model: nothing registered yet."""
    if name == WINBACK:
        winback = train_winback(data.events, spec, data.as_of)
        m = winback.metrics
        better = m["roc_auc"] > m["baseline_roc_auc"] and m["pr_auc"] > m["baseline_pr_auc"]
        description = "HistGradientBoosting: a purchase within the window (time split)"
        return Fitted(winback, winback.counts, WINBACK_PARAMS, description, "recency only", better)
    if name == FRAUD:
        rows, split = labelled_rows(name, data, spec, test_share)
        assert isinstance(rows, FraudRows)
        fraud = train_fraud(rows, split)
        m = fraud.metrics
        better = (
            m["pr_auc"] > m["baseline_pr_auc"]
            and m["recall_at_1pct_fpr"] >= m["baseline_recall_at_1pct_fpr"]
        )
        description = "HistGradientBoosting on payment features"
        reference = reference_profile(name, fraud.estimator, [rows.X[i] for i in split.train])
        return Fitted(fraud, split.counts, FRAUD_PARAMS, description, "rules", better, reference)
    if name == RECOMMENDER:
        offers, split = labelled_rows(name, data, spec, test_share)
        assert isinstance(offers, OfferRows)
        recommender = train_recommender(offers, split, data.counterfactuals, data.catalog)
        m = recommender.metrics
        better = m["roc_auc"] > m["baseline_roc_auc"]
        if "precision_at_1" in m:
            better = better and m["precision_at_1"] > m["baseline_precision_at_1"]
        description = "Logistic regression on offer attributes and the customer's relation to each"
        requests = offer_requests(offers, split.train, data.catalog)
        reference = reference_profile(name, recommender.estimator, requests)
        return Fitted(
            recommender,
            dataclasses.replace(split.counts, client_positives=offers.client_positives),
            RECOMMENDER_PARAMS,
            description,
            "popularity",
            better,
            reference,
        )
    raise ValueError(f"unknown model {name!r}; one of {MODEL_NAMES}")


def against_champion(registry: ModelRegistry, name: str, fitted: Fitted) -> dict[str, Any] | None:
    """The candidate beside the current champion on the candidate's own test window; None
    when there is no champion, with the reason when the champion cannot score the rows."""
    champion = registry.alias(name, CHAMPION)
    if champion is None:
        return None
    meta, estimator = registry.load(name, champion)
    window = (fitted.counts.test_from, fitted.counts.test_until)
    if meta.feature_spec_version != FEATURE_SPEC_VERSION:
        return {
            "champion_version": champion,
            "verdict": "not comparable",
            "reason": f"champion uses feature spec v{meta.feature_spec_version}",
            "window": list(window),
        }
    result = fitted.result
    theirs = estimator.predict_proba(np.asarray(result.test_X, dtype=float))[:, 1]
    comparison = compare_on_window(
        name,
        result.test_y,
        result.test_scores,
        theirs.tolist(),
        candidate_version=None,  # registered after: `train` fills it in
        champion_version=champion,
        window=window,
    )
    # A champion fitted on rows inside this window has seen its answers: say so.
    trained_until = meta.data.get("counts", {}).get("train_until")
    comparison["champion_trained_until"] = trained_until
    comparison["champion_saw_window"] = trained_until is not None and trained_until >= window[0]
    return comparison


def train(
    name: ModelName,
    registry: ModelRegistry,
    data: TrainingData | None = None,
    *,
    label_window_s: float | None = None,
    server_labels_only: bool = False,
    test_share: float = 0.25,
    report_dir: Path | None = Path("reports"),
    promote: bool = False,
    force: bool = False,
    progress: Progress = _quiet,
) -> TrainOutcome:
    """Train one model on `data` (generated history when None), compare it with the
    champion, write its report, register it; promote if asked (and not worse, or forced)."""
    if data is None:
        progress("generating synthetic history")
        data = generated()
    spec = LABELS[name].with_window(label_window_s)
    if server_labels_only:
        spec = spec.server_labels_only()
    progress(f"replaying {len(data.events):,} events through CustomerState and fitting")
    fitted = fit(name, data, spec, test_share)
    progress("comparing with the champion on the same recent window")
    comparison = against_champion(registry, name, fitted)
    provenance = {
        **data.provenance(),
        "label": {
            "window_s": spec.window_s,
            "outcome": spec.outcome,
            "client_labels": spec.client_labels,
        },
        "counts": fitted.counts.as_dict(),
        "test_share": test_share,
        "code_version": code_version(),
    }
    if fitted.reference is not None:
        provenance["reference"] = fitted.reference
    progress("registering")
    version = registry.register(
        name,
        fitted.result.estimator,
        kind=name,
        feature_spec_version=FEATURE_SPEC_VERSION,
        metrics=fitted.result.metrics,
        params={**fitted.params, "source": data.source.get("kind")},
        data_fingerprint=fingerprint(data.events, name),
        description=fitted.description,
        data=provenance,
    )
    if comparison is not None:
        if "candidate_version" in comparison:
            comparison["candidate_version"] = version.version
        version = registry.record_comparison(name, version.version, comparison)
    report = None
    if report_dir is not None:
        progress("writing the evaluation report")
        result = fitted.result
        curves = [
            (f"{name} v{version.version}", result.test_y, result.test_scores),
            (f"baseline: {fitted.baseline}", result.test_y, result.baseline_scores),
        ]
        report = write_report(version, curves, report_dir)
    if promote:
        registry.promote(name, version.version, force=force)
    return TrainOutcome(version, report, fitted.beats_baseline, comparison)


def bootstrap_models(
    registry: ModelRegistry,
    customers: int = 800,
    days: float = 60.0,
    seed: int = 7,
    names: tuple[ModelName, ...] = ("fraud", "recommender"),
) -> dict[str, ModelVersion]:
    """First models for an empty registry: trained on synthetic history and promoted."""
    out: dict[str, ModelVersion] = {}
    data = generated(customers, days, seed)
    for name in names:
        trained = train(name, registry, data, report_dir=None, promote=True)
        out[name] = trained.version
    log.info("bootstrapped models: %s", {k: v.version for k, v in out.items()})
    return out


def ensure_models(registry: ModelRegistry, **kwargs: Any) -> dict[str, int]:
    """Champions of both live models, bootstrapping when any is missing; and of the
    win-back model, trained on the CDNOW purchases, when their data file is installed
    (`make install`, the cluster's setup). Without it the win-back rule never fires: its
    score is missing, not failing (`actors/turn/actor.py`); the answer says 0 for winback."""
    live: tuple[ModelName, ...] = ("fraud", "recommender")
    missing = tuple(m for m in live if not _current_champion(registry, m))
    if missing:
        bootstrap_models(registry, names=missing, **kwargs)
    if not _current_champion(registry, WINBACK):
        try:
            purchases = cdnow()
        except DatasetMissingError as error:
            log.warning("no win-back model: %s is not installed (%s)", error.dataset, error)
        else:
            train(WINBACK, registry, purchases, report_dir=None, promote=True)
    return {m: registry.alias(m, CHAMPION) or 0 for m in (FRAUD, RECOMMENDER, WINBACK)}


def _current_champion(registry: ModelRegistry, name: str) -> bool:
    """Whether `name` has a champion the running code can serve: one trained on an older
    feature spec (engage upgraded under a kept registry) is replaced like a missing one,
    the old version kept for the record."""
    champion = registry.alias(name, CHAMPION)
    if champion is None:
        return False
    trained_on = registry.get(name, champion).feature_spec_version
    if trained_on != FEATURE_SPEC_VERSION:
        log.warning(
            "the %s champion (v%d) uses feature spec %d, this engage %d: training a new one",
            name,
            champion,
            trained_on,
            FEATURE_SPEC_VERSION,
        )
        return False
    return True


def recent_window(
    name: str, data: TrainingData, spec: LabelSpec, test_share: float = 0.25
) -> tuple[list[list[float]], list[int], tuple[float, float]]:
    """The rows, labels and time range of `data`'s most recent window, as `fit` tests on."""
    if name == WINBACK:
        _, cutoff = cutoffs(data.as_of, spec.window_s)
        rows = rows_at(by_customer(data.events), cutoff, spec)
        return rows.X, rows.y, (cutoff, cutoff)
    built, split = labelled_rows(name, data, spec, test_share)
    window = (split.counts.test_from, split.counts.test_until)
    return [built.X[i] for i in split.test], [built.y[i] or 0 for i in split.test], window


def compare_versions(
    registry: ModelRegistry,
    name: str,
    candidate: int,
    data: TrainingData,
    *,
    label_window_s: float | None = None,
    test_share: float = 0.25,
) -> dict[str, Any]:
    """`candidate` against the current champion on `data`'s most recent window; the
    comparison is recorded with the candidate, where `promote` finds it."""
    champion = registry.alias(name, CHAMPION)
    if champion is None:
        raise ModelError(name, "no champion to compare with")
    spec = LABELS[name].with_window(label_window_s)
    X, y, window = recent_window(name, data, spec, test_share)
    scores = {}
    for version in (candidate, champion):
        meta, estimator = registry.load(name, version)
        if meta.feature_spec_version != FEATURE_SPEC_VERSION:
            raise ModelError(name, f"trained on feature spec v{meta.feature_spec_version}", version)
        scores[version] = estimator.predict_proba(np.asarray(X, dtype=float))[:, 1].tolist()
    comparison = compare_on_window(
        name,
        y,
        scores[candidate],
        scores[champion],
        candidate_version=candidate,
        champion_version=champion,
        window=window,
    )
    comparison["data"] = data.provenance()
    registry.record_comparison(name, candidate, comparison)
    return comparison
