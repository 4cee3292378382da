"""The Grafana dashboard and the Prometheus alert rules in deploy/ load, and read only
metrics engage's /metrics serves, each with its help text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from serving.prometheus import render

DEPLOY = Path(__file__).parents[2] / "deploy"
METRIC = re.compile(r"\bengage_[a-z_]+")
DURATION = re.compile(r"^\d+[smhd]$")


def figures() -> dict[str, Any]:
    histogram = {"buckets": [1.0, 10.0], "counts": [1, 1, 0], "sum": 5.0, "count": 2}
    return {
        "events_in": 10,
        "events_processed": 9,
        "events_duplicate": 0,
        "events_rejected": 1,
        "consumer_lag": 0,
        "live_customers": 3,
        "shards": [
            {"shard": 0, "live_customers": 3, "mailbox_depth": 0, "started_at": 1.7e9},
        ],
        "actions_by_type": {"offer": 1},
        "actions_by_rule": {"browse_offer": 1},
        "dispatch": {"delivered_kafka": 1, "dead_lettered": 0},
        "turn_ms": histogram,
        "scoring_ms": histogram,
        "action_latency_ms": histogram,
        "score_distributions": {"fraud": histogram},
        "score_psi": {"fraud": 0.05},
        "models": {"fraud": {"champion": "1"}},
    }


def served() -> dict[str, str]:
    """Metric family name -> its help text, as /metrics writes them."""
    text = render(figures())
    return dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.MULTILINE))


def used(expr: str) -> set[str]:
    names = set()
    for name in METRIC.findall(expr):
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name.removesuffix(suffix) in served():
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_the_alert_rules_load_as_prometheus_reads_them_and_use_served_metrics() -> None:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "EngageConsumerLagGrowing",
        "EngageDeadLetterRate",
        "EngageTurnLatencyHigh",
        "EngageEventToActionSlow",
        "EngageShardRestarting",
        "EngageModelScoresDrifted",
    }
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert rule["expr"].count("(") == rule["expr"].count(")")
        assert used(rule["expr"]) <= set(served()), rule["alert"]


def test_the_grafana_dashboard_loads_and_charts_served_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "engage.json").read_text())
    assert dashboard["uid"] == "engage-overview"
    assert dashboard["title"] == "engage"
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        assert used(expr) <= set(served()), expr
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_served_metric_has_help_text_and_its_unit_in_its_name() -> None:
    for name, help_text in served().items():
        assert help_text.endswith("."), name
        if "latency" in name:
            assert name.endswith("_ms"), name
        if "time" in name:
            assert name.endswith("_seconds"), name
