"""/metrics is valid Prometheus text: histograms with labels parse as one family, with
cumulative buckets, whatever the number of label sets."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from serving.prometheus import render
from tests.deploy.test_operators_kit import figures


def test_live_score_distributions_are_one_histogram_family_labelled_by_model() -> None:
    tenths = [round(0.1 * i, 1) for i in range(1, 11)]
    data = {
        "fraud": {
            "buckets": tenths,
            "counts": [5, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
            "sum": 1.2,
            "count": 6,
        },
        "recommender": {
            "buckets": tenths,
            "counts": [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
            "sum": 0.5,
            "count": 2,
        },
    }
    families = {
        f.name: f
        for f in text_string_to_metric_families(render({**figures(), "score_distributions": data}))
    }
    family = families["engage_model_score"]
    assert family.type == "histogram"
    buckets = {
        (s.labels["model"], s.labels["le"]): s.value
        for s in family.samples
        if s.name == "engage_model_score_bucket"
    }
    assert buckets[("fraud", "0.1")] == 5
    assert buckets[("fraud", "0.9")] == 5  # cumulative
    assert buckets[("fraud", "+Inf")] == 6
    assert buckets[("recommender", "0.3")] == 2
    counts = {
        s.labels["model"]: s.value for s in family.samples if s.name == "engage_model_score_count"
    }
    assert counts == {"fraud": 6, "recommender": 2}
