"""The retraining loop on generated data with an injected drift, offline, in figures.

A champion is trained as a fresh engage trains its first fraud model (800 customers over
60 days, no account takeovers). Then fifty days of other customers in which account
takeovers start on day 15 (15% of customers; failed logins, then ordinary payments),
reported by chargebacks and fraud reports as a bank learns of them, and cut at their last
day (reports still to come are not there yet). A candidate is trained on that history
exactly as `engage train fraud --from ...` does and compared with the champion on the
same recent window; both score a wave of takeovers; the wave's features are compared with
the champion's training window as `engage models drift` does.

    .venv/bin/python bench/retrain_loop.py

The last line printed is one JSON object of figures (docs/models.md quotes one run).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from actors.metrics import Histogram
from actors.model.events import CardPayment
from actors.model.feature_bins import FeatureCounter
from actors.model.features import PAYMENT_FEATURES
from actors.model.labels import FRAUD
from actors.turn.scoring import SCORE_BUCKETS
from serving.drift import training_drift
from training.champion import compare_on_window
from training.dataset import fraud_rows
from training.pipeline import fit
from training.reference import live_scores
from training.sources import TrainingData, generated
from training.synthetic import generate

DAY = 86_400.0
START = 1_767_225_600.0  # 2026-01-01


def main() -> None:
    started = time.monotonic()
    first = fit("fraud", generated(800, 60, 7), FRAUD)
    champion = first.result.estimator
    end = START + 50 * DAY
    drifted = generate(
        customers=800,
        days=50,
        seed=21,
        start=START,
        takeover_from=START + 15 * DAY,
        takeover_share=0.15,
        prefix="loop",
    )
    history = TrainingData(
        [e for e in drifted.events if e.ts <= end], {"kind": "generated+takeovers"}, end
    )
    candidate = fit("fraud", history, FRAUD)
    result = candidate.result
    theirs = champion.predict_proba(np.asarray(result.test_X))[:, 1].tolist()
    comparison = compare_on_window(
        "fraud",
        result.test_y,
        result.test_scores,
        theirs,
        candidate_version=2,
        champion_version=1,
        window=(candidate.counts.test_from, candidate.counts.test_until),
    )

    # A wave of takeovers now: who catches them, and what drift against the champion's
    # training window shows.
    wave = generate(
        customers=300,
        days=2,
        seed=5,
        start=end,
        takeover_from=end,
        takeover_share=0.5,
        prefix="wave",
    )
    rows = fraud_rows([e for e in wave.events if e.ts <= end + 2 * DAY], FRAUD, end + 30 * DAY)
    takeover_ids = {
        e.payment_id
        for e in wave.events
        if isinstance(e, CardPayment) and wave.fraud_labels.get(e.payment_id)
    }
    takeovers = [x for x, p in zip(rows.X, rows.payment_ids, strict=True) if p in takeover_ids]
    caught = {
        name: float(np.mean(np.asarray(live_scores("fraud", model, takeovers)) >= 0.5))
        for name, model in (("champion", champion), ("candidate", result.estimator))
    }
    counter = FeatureCounter(PAYMENT_FEATURES)
    counter.observe(rows.X)
    scores = Histogram(SCORE_BUCKETS)
    for value in live_scores("fraud", champion, rows.X):
        scores.observe(value)
    sample = {"features": {"fraud": counter.to_list()}, "scores": {"fraud": scores.counts}}
    assert first.reference is not None
    drift = training_drift("fraud", first.reference, {}, sample)

    primary = comparison["metrics"]["pr_auc"]
    figures: dict[str, Any] = {
        "history_events": len(history.events),
        "train_rows": candidate.counts.train_rows,
        "train_positives": candidate.counts.train_positives,
        "test_rows": candidate.counts.test_rows,
        "test_positives": candidate.counts.test_positives,
        "pending": candidate.counts.pending,
        "candidate_pr_auc": round(primary["candidate"], 3),
        "champion_pr_auc": round(primary["champion"], 3),
        "difference_ci95": [round(v, 3) for v in primary["difference_ci95"]],
        "verdict": comparison["verdict"],
        "wave_payments": len(rows.X),
        "wave_takeover_payments": len(takeovers),
        "takeovers_caught_by_champion": round(caught["champion"], 3),
        "takeovers_caught_by_candidate": round(caught["candidate"], 3),
        "failed_logins_psi": drift["features"].get("failed_logins"),
        "drifted_features": drift["drifted_features"],
        "score_psi": drift["score"],
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
