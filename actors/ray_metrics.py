"""engage's figures through Ray's metrics API, beside Ray's own.

A shard, an ingest replica and the scorer each report their figures every few seconds to
`ray.util.metrics`. Ray's metrics agent on each node exports them with Ray's own at the
node's metrics export port (every name prefixed `ray_`, tagged with the node and worker),
where the Prometheus that scrapes a Ray cluster finds them and Ray's Grafana dashboards
sit beside engage's (deploy/grafana). The figures are read from the snapshot each
process already keeps for /metrics and the dashboard, so the hot path pays nothing: a
counter advances by what its figure grew since the last report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# How often a process reports; Ray's agent exports every 10 s by default.
REPORT_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of a snapshot and the metric it becomes. With `per`, the figure maps
    a label to a number: one series per entry, tagged `per`."""

    key: str
    name: str
    description: str
    counter: bool = False
    per: str | None = None


# Makes the metric of a figure with these tag keys: a Ray Counter (`inc`) for a counter,
# a Gauge (`set`) otherwise.
MetricFactory = Callable[[Figure, tuple[str, ...]], Any]


def ray_metric(figure: Figure, tag_keys: tuple[str, ...]) -> Any:
    """The Ray metric of `figure`, made in the process that reports it."""
    from ray.util import metrics

    kind = metrics.Counter if figure.counter else metrics.Gauge
    return kind(figure.name, description=figure.description, tag_keys=tag_keys)


class FigureReporter:
    """Reports snapshots of one process's figures as Ray metrics tagged `tags`."""

    def __init__(
        self,
        figures: Sequence[Figure],
        tags: Mapping[str, str],
        make: MetricFactory = ray_metric,
    ) -> None:
        self._figures = tuple(figures)
        self._tags = dict(tags)
        self._metrics = {
            f.name: make(f, tuple(self._tags) + ((f.per,) if f.per else ())) for f in figures
        }
        self._reported: dict[tuple[str, str], float] = {}
        # Reports that failed, and why the last did: the figures stay in engage's own
        # /metrics, and the next report carries a counter's growth meanwhile.
        self.failures = 0
        self.last_error: str | None = None

    def report(self, snapshot: Mapping[str, Any]) -> None:
        try:
            self._report(snapshot)
        except Exception as error:  # a metric Ray refuses must not stop the caller's loop
            self.failures += 1
            if self.last_error is None:
                log.warning("cannot report figures to Ray's metrics: %r", error)
            self.last_error = repr(error)

    def _report(self, snapshot: Mapping[str, Any]) -> None:
        for figure in self._figures:
            value = snapshot.get(figure.key)
            if value is None:
                continue
            if figure.per is None:
                self._one(figure, "", float(value), self._tags)
                continue
            for label, entry in dict(value).items():
                tags = {**self._tags, figure.per: str(label)}
                self._one(figure, str(label), float(entry), tags)

    def _one(self, figure: Figure, label: str, value: float, tags: dict[str, str]) -> None:
        metric = self._metrics[figure.name]
        if not figure.counter:
            metric.set(value, tags=tags)
            return
        last = self._reported.get((figure.name, label), 0.0)
        self._reported[(figure.name, label)] = value
        # A figure lower than last time was counted again from zero (a reset): all of it
        # is new.
        grown = value - last if value >= last else value
        if grown > 0:
            metric.inc(grown, tags=tags)


SHARD_FIGURES = (
    Figure("events", "engage_shard_events", "Events applied by a shard's customers.", True),
    Figure("duplicates", "engage_shard_events_duplicate", "Redelivered events skipped.", True),
    Figure("actions", "engage_shard_actions", "Actions decided by a shard's customers.", True),
    Figure("batches", "engage_shard_batches", "Batches a shard processed.", True),
    Figure("conflicts", "engage_shard_commit_conflicts", "Commits refused as stale.", True),
    Figure("live_customers", "engage_shard_live_customers", "Customers live in a shard."),
    Figure("owned_slots", "engage_shard_owned_slots", "Slots a shard owns."),
    Figure("mailbox_depth", "engage_shard_mailbox_depth", "Events waiting for a turn."),
    Figure("sink_queue_depth", "engage_shard_sink_queue_depth", "Actions waiting to go out."),
    Figure("turn_ms_p50", "engage_shard_turn_ms_p50", "Median turn, milliseconds."),
    Figure("turn_ms_p99", "engage_shard_turn_ms_p99", "99th percentile turn, milliseconds."),
    Figure("batch_ms_p99", "engage_shard_batch_ms_p99", "99th percentile batch, milliseconds."),
    Figure("dispatch", "engage_shard_dispatch", "Action dispatch by outcome.", True, per="outcome"),
)

INGEST_FIGURES = (
    Figure("records", "engage_ingest_records", "Records an ingest replica read.", True),
    Figure("processed", "engage_ingest_processed", "Events the shards applied.", True),
    Figure("dead_lettered", "engage_ingest_dead_lettered", "Events dead-lettered.", True),
    Figure("rewinds", "engage_ingest_rewinds", "Polls read again after a failure.", True),
    Figure("commits", "engage_ingest_commits", "Offset commits.", True),
    Figure("total_lag", "engage_ingest_lag", "Records behind the end of the events."),
    Figure("stalled_s", "engage_ingest_stalled_seconds", "Seconds polls have kept failing."),
    Figure("poll_ms_p99", "engage_ingest_poll_ms_p99", "99th percentile poll, milliseconds."),
)

SCORER_FIGURES = (
    Figure("swaps", "engage_scorer_model_swaps", "Model sets swapped in.", True),
    Figure("shadow_dropped", "engage_scorer_shadow_dropped", "Shadow pairs dropped.", True),
    Figure("epoch", "engage_scorer_registry_epoch", "Registry epoch served."),
    Figure("swap_failing", "engage_scorer_swap_failing", "1 while the last swap failed."),
)
