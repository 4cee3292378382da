"""Models beat the baselines a team would otherwise use, on the most recent window."""

from __future__ import annotations

import pytest

from actors.model.labels import FRAUD, OFFER
from training.dataset import fraud_rows, offer_training_rows
from training.fraud import train_fraud
from training.metrics import calibration_metrics, ndcg_at_k, precision_at_1, recall_at_fpr
from training.recommender import train_recommender
from training.split import time_split
from training.synthetic import SyntheticDataset, generate


@pytest.fixture(scope="module")
def data() -> SyntheticDataset:
    return generate(customers=700, days=60, seed=11)


def test_synthetic_customers_have_fraud_that_comes_to_light_and_offer_feedback(
    data: SyntheticDataset,
) -> None:
    frauds = {p for p, fraud in data.fraud_labels.items() if fraud}
    assert 0 < len(frauds) < 0.05 * len(data.fraud_labels)
    reported = {e.payment_id for e in data.events if e.type in ("fraud_report", "chargeback")}
    # Most fraud is reported, some never is, and nothing else is.
    assert reported < frauds
    assert len(reported) > 0.85 * len(frauds)
    assert {t.accepted for t in data.offer_trials} == {True, False}
    assert {e.type for e in data.events} >= {
        "product_view",
        "card_payment",
        "content_view",
        "purchase",
        "offer_feedback",
    }


def test_the_fraud_model_beats_the_rules_baseline_on_the_recent_window(
    data: SyntheticDataset,
) -> None:
    rows = fraud_rows(data.events)
    as_of = max(e.ts for e in data.events)
    split = time_split(rows.times, rows.y, window_s=FRAUD.window_s, as_of=as_of)
    result = train_fraud(rows, split)
    m = result.metrics
    assert m["pr_auc"] > m["baseline_pr_auc"]
    assert m["recall_at_1pct_fpr"] >= m["baseline_recall_at_1pct_fpr"]
    assert m["test_fraud_rows"] > 10
    # Evaluated only on payments after every training payment's label had settled.
    assert max(rows.times[i] for i in split.train) + FRAUD.window_s <= min(
        rows.times[i] for i in split.test
    )
    assert len(result.test_X) == len(result.test_y) == len(split.test)


def test_the_recommender_beats_popularity_on_the_recent_window(data: SyntheticDataset) -> None:
    rows = offer_training_rows(data.events)
    as_of = max(e.ts for e in data.events)
    split = time_split(rows.times, rows.y, window_s=OFFER.window_s, as_of=as_of)
    m = train_recommender(rows, split, data.counterfactuals).metrics
    assert m["precision_at_1"] > m["baseline_precision_at_1"]
    assert m["ndcg_at_3"] > m["baseline_ndcg_at_3"]
    assert m["roc_auc"] > m["baseline_roc_auc"]
    # Offers it was fitted without are ranked from what they are (popularity: 0.5).
    assert m["new_offers"] >= 1
    assert m["new_offer_roc_auc"] > 0.55
    for size in (5, 10, 15):
        assert m[f"precision_at_1_{size}_offers"] > m[f"baseline_precision_at_1_{size}_offers"]


def test_without_counterfactuals_the_recommender_is_judged_on_offers_shown(
    data: SyntheticDataset,
) -> None:
    rows = offer_training_rows(data.events)
    as_of = max(e.ts for e in data.events)
    split = time_split(rows.times, rows.y, window_s=OFFER.window_s, as_of=as_of)
    m = train_recommender(rows, split).metrics
    assert "precision_at_1" not in m
    assert m["roc_auc"] > m["baseline_roc_auc"]


def test_the_winback_model_beats_recency_on_cdnow_with_a_time_split() -> None:
    from training.cdnow import read_cdnow
    from training.winback import train_winback

    events = list(read_cdnow())
    assert len(events) == 69_659
    assert len({e.customer_id for e in events}) == 23_570
    result = train_winback(events)
    m = result.metrics
    assert m["train_cutoff"] < m["test_cutoff"]
    assert m["roc_auc"] > m["baseline_roc_auc"]
    assert m["pr_auc"] > m["baseline_pr_auc"]
    assert result.counts.test_rows == len(result.test_y)


def test_ranking_and_fpr_metrics() -> None:
    assert precision_at_1([["a", "b"], ["b", "a"]], [{"a"}, {"a"}]) == 0.5
    assert ndcg_at_k([["a", "b", "c"]], [{"a"}], 3) == 1.0
    assert ndcg_at_k([["b", "a", "c"]], [{"a"}], 3) == pytest.approx(0.6309, abs=1e-4)
    assert recall_at_fpr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.01) == 1.0


def test_calibration_is_zero_for_honest_scores_and_large_for_confident_wrong_ones() -> None:
    honest = calibration_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert honest["calibration_error"] == pytest.approx(0.0)
    assert honest["brier"] == pytest.approx(0.25)
    wrong = calibration_metrics([0, 0, 0, 0], [0.95, 0.95, 0.95, 0.95])
    assert wrong["calibration_error"] == pytest.approx(0.95)
