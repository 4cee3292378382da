"""Models beat the baselines a team would otherwise use, on held-out data."""

from __future__ import annotations

import pytest

from training.dataset import fraud_rows, offer_training_rows
from training.fraud import train_fraud
from training.metrics import ndcg_at_k, precision_at_1, recall_at_fpr
from training.recommender import train_recommender
from training.synthetic import generate


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return generate(customers=700, days=40, seed=11)


def test_synthetic_customers_have_labelled_fraud_and_offer_trials(data) -> None:  # type: ignore[no-untyped-def]
    frauds = sum(data.fraud_labels.values())
    assert 0 < frauds < 0.05 * len(data.fraud_labels)
    assert {t.accepted for t in data.offer_trials} == {True, False}
    assert {e.type for e in data.events} >= {
        "product_view",
        "card_payment",
        "content_view",
        "purchase",
    }


def test_the_fraud_model_beats_the_rules_baseline(data) -> None:  # type: ignore[no-untyped-def]
    m = train_fraud(fraud_rows(data.events, data.fraud_labels)).metrics
    assert m["pr_auc"] > m["baseline_pr_auc"]
    assert m["recall_at_1pct_fpr"] >= m["baseline_recall_at_1pct_fpr"]
    assert m["test_fraud_rows"] > 10


def test_the_recommender_beats_popularity_on_held_out_customers(data) -> None:  # type: ignore[no-untyped-def]
    m = train_recommender(
        offer_training_rows(data.events, data.offer_trials), data.counterfactuals
    ).metrics
    assert m["precision_at_1"] > m["baseline_precision_at_1"]
    assert m["ndcg_at_3"] > m["baseline_ndcg_at_3"]


def test_the_winback_model_beats_recency_on_cdnow_with_a_time_split() -> None:
    from training.cdnow import read_cdnow
    from training.winback import train_winback

    events = list(read_cdnow())
    assert len(events) == 69_659
    assert len({e.customer_id for e in events}) == 23_570
    m = train_winback(events).metrics
    assert m["train_cutoff"] < m["test_cutoff"]
    assert m["roc_auc"] > m["baseline_roc_auc"]
    assert m["pr_auc"] > m["baseline_pr_auc"]


def test_ranking_and_fpr_metrics() -> None:
    assert precision_at_1([["a", "b"], ["b", "a"]], [{"a"}, {"a"}]) == 0.5
    assert ndcg_at_k([["a", "b", "c"]], [{"a"}], 3) == 1.0
    assert ndcg_at_k([["b", "a", "c"]], [{"a"}], 3) == pytest.approx(0.6309, abs=1e-4)
    assert recall_at_fpr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.01) == 1.0
