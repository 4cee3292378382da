"""The figures of serving.figures as Prometheus exposition, written by prometheus_client.

engage keeps its own figures (snapshots summed over shards and replicas), so they are
handed to prometheus_client as metric families of one collection rather than as live
metric objects; the text, escaping and histogram layout are prometheus_client's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Samples = Sequence[tuple[Mapping[str, object], float]]


def _label_names(series: Sequence[tuple[Mapping[str, object], Any]]) -> list[str]:
    """Every label any sample of a family has, in the order they first appear."""
    names: dict[str, None] = {}
    for labels, _ in series:
        names.update(dict.fromkeys(labels))
    return list(names)


class _Writer(Collector):
    """Collects metric families; `text()` renders them through prometheus_client."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)

    def metric(self, name: str, kind: str, help_text: str, samples: Samples) -> None:
        names = _label_names(samples)
        family: CounterMetricFamily | GaugeMetricFamily
        if kind == "counter":
            family = CounterMetricFamily(name, help_text, labels=names)
        else:
            family = GaugeMetricFamily(name, help_text, labels=names)
        for labels, value in samples:
            family.add_metric([str(labels.get(n, "")) for n in names], float(value))
        self.families.append(family)

    def histogram(self, name: str, help_text: str, data: dict[str, Any]) -> None:
        self.histograms(name, help_text, [({}, data)])

    def histograms(
        self, name: str, help_text: str, series: Sequence[tuple[Mapping[str, object], Any]]
    ) -> None:
        """One histogram per label set, in one family: engage's histograms count per
        bucket, Prometheus's cumulatively."""
        names = _label_names(series)
        family = HistogramMetricFamily(name, help_text, labels=names)
        for labels, data in series:
            cumulative = 0
            buckets = []
            for bound, count in zip(data["buckets"], data["counts"], strict=False):
                cumulative += count
                buckets.append((f"{bound:g}", float(cumulative)))
            buckets.append(("+Inf", float(data["count"])))
            family.add_metric([str(labels.get(n, "")) for n in names], buckets, float(data["sum"]))
        self.families.append(family)

    def text(self) -> str:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry).decode()


def render(figures: dict[str, Any]) -> str:
    w = _Writer()
    w.metric(
        "engage_events_in_total",
        "counter",
        "Records consumed from engage.events.",
        [({}, figures["events_in"])],
    )
    w.metric(
        "engage_events_processed_total",
        "counter",
        "Events applied by customer actors.",
        [({}, figures["events_processed"])],
    )
    w.metric(
        "engage_events_duplicate_total",
        "counter",
        "Redelivered events recognised and skipped.",
        [({}, figures["events_duplicate"])],
    )
    w.metric(
        "engage_events_rejected_total",
        "counter",
        "Events sent to the dead-letter topic.",
        [({}, figures["events_rejected"])],
    )
    w.metric(
        "engage_collect_refused_total",
        "counter",
        "Collection calls refused, by source (events, segment) and the field at fault.",
        [
            ({"source": row["source"], "field": row["field"]}, row["count"])
            for row in figures.get("collect_refused", [])
        ],
    )
    w.metric(
        "engage_collect_bots_total",
        "counter",
        "Events from crawlers and headless agents kept out of the stream, by source.",
        [({"source": source}, count) for source, count in figures.get("collect_bots", {}).items()],
    )
    w.metric(
        "engage_segment_members",
        "gauge",
        "Customers in each segment of the rules in force, as their latest turns left them.",
        [({"segment": name}, count) for name, count in figures.get("segments", {}).items()],
    )
    journeys = figures.get("journeys", {})
    w.metric(
        "engage_journey_runs_total",
        "counter",
        "Journey runs started, and ended by how (completed, exited, exit_event, retired).",
        [({"journey": j, "outcome": "started"}, row["started"]) for j, row in journeys.items()]
        + [
            ({"journey": j, "outcome": how}, count)
            for j, row in journeys.items()
            for how, count in row["ended"].items()
        ],
    )
    w.metric(
        "engage_journey_active",
        "gauge",
        "Journey runs in progress (started and not ended).",
        [({"journey": j}, row["active"]) for j, row in journeys.items()],
    )
    w.metric(
        "engage_journey_steps_total",
        "counter",
        "Times a journey's runs reached each step.",
        [
            ({"journey": j, "step": step}, count)
            for j, row in journeys.items()
            for step, count in row["steps"].items()
        ],
    )
    w.metric(
        "engage_consumer_lag",
        "gauge",
        "Records behind the end of engage.events.",
        [({}, figures["consumer_lag"])],
    )
    w.metric(
        "engage_ingest_stalled_seconds",
        "gauge",
        "Longest time any ingest replica's polls have kept failing (0: all progress).",
        [({}, figures.get("ingest_stalled_s", 0.0))],
    )
    w.metric(
        "engage_live_customers",
        "gauge",
        "Customer actors in memory.",
        [({}, figures["live_customers"])],
    )
    w.metric(
        "engage_shard_live_customers",
        "gauge",
        "Customer actors in memory, per shard.",
        [({"shard": s["shard"]}, s["live_customers"]) for s in figures["shards"]],
    )
    w.metric(
        "engage_shard_mailbox_depth",
        "gauge",
        "Events received by a shard and not yet acked.",
        [({"shard": s["shard"]}, s["mailbox_depth"]) for s in figures["shards"]],
    )
    w.metric(
        "engage_shard_start_time_seconds",
        "gauge",
        "When the shard's process started (Unix time): a change is a restart.",
        [
            ({"shard": s["shard"]}, s["started_at"])
            for s in figures["shards"]
            if s.get("started_at") is not None
        ],
    )
    w.metric(
        "engage_actions_total",
        "counter",
        "Actions decided by customer actors, by type.",
        [({"type": t}, n) for t, n in figures["actions_by_type"].items()],
    )
    w.metric(
        "engage_actions_by_rule_total",
        "counter",
        "Actions decided, by rule.",
        [({"rule": r}, n) for r, n in figures["actions_by_rule"].items()],
    )
    outcomes = []
    for key, count in figures["dispatch"].items():
        if key.startswith("delivered_"):
            outcomes.append(
                ({"sink": key.removeprefix("delivered_"), "outcome": "delivered"}, count)
            )
        else:
            outcomes.append(({"sink": "", "outcome": key}, count))
    w.metric(
        "engage_action_dispatch_total",
        "counter",
        "Action deliveries by sink and outcome.",
        outcomes,
    )
    w.histogram(
        "engage_turn_latency_ms", "Customer turn latency in milliseconds.", figures["turn_ms"]
    )
    w.histogram(
        "engage_scoring_latency_ms",
        "Model server call latency in milliseconds.",
        figures["scoring_ms"],
    )
    if "action_latency_ms" in figures:
        w.histogram(
            "engage_event_to_action_latency_ms",
            "Milliseconds from ingest reading an event to its action accepted by the sink.",
            figures["action_latency_ms"],
        )
    w.histograms(
        "engage_model_score",
        "Live scores per model (fraud: the probability; recommender: the best offer's).",
        [({"model": m}, data) for m, data in figures.get("score_distributions", {}).items()],
    )
    w.metric(
        "engage_model_score_psi",
        "gauge",
        "Population stability index of each model's live scores, last hour against the day"
        " before (over 0.2: moved).",
        [({"model": m}, v) for m, v in sorted(figures.get("score_psi", {}).items())],
    )
    drift = figures.get("training_drift", {})
    w.metric(
        "engage_feature_psi",
        "gauge",
        "Population stability index of each feature the live model is asked about, the last"
        " hour against the champion's training window (over 0.2: moved).",
        [
            ({"model": m, "feature": f}, v)
            for m, d in sorted(drift.items())
            for f, v in sorted(d.get("features", {}).items())
        ],
    )
    w.metric(
        "engage_model_score_training_psi",
        "gauge",
        "Population stability index of each model's live scores, the last hour against the"
        " champion's training window (over 0.2: moved).",
        [
            ({"model": m}, d["score"])
            for m, d in sorted(drift.items())
            if d.get("score") is not None
        ],
    )
    models = []
    for name, aliases in figures["models"].items():
        for alias, version in aliases.items():
            if version is not None:
                models.append(({"model": name, "alias": alias, "version": version}, 1))
    w.metric("engage_model_info", "gauge", "Model versions served (value is always 1).", models)
    return w.text()
