"""A process's figures become Ray metrics: counters advance by what their figure grew,
gauges follow it, and a metric Ray refuses never stops the process's loop."""

from __future__ import annotations

from typing import Any

from actors.ingest import IngestStats
from actors.ray_metrics import (
    INGEST_FIGURES,
    SCORER_FIGURES,
    Figure,
    FigureReporter,
)


class Recorded:
    """A stand-in for a Ray metric that keeps what it was told."""

    def __init__(self, figure: Figure, tag_keys: tuple[str, ...]) -> None:
        self.figure = figure
        self.tag_keys = tag_keys
        self.calls: list[tuple[str, float, dict[str, str]]] = []

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        assert value > 0, "Ray's counters refuse anything but growth"
        self.calls.append(("inc", value, dict(tags or {})))

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.calls.append(("set", value, dict(tags or {})))


FIGURES = (
    Figure("events", "events", "Events.", counter=True),
    Figure("depth", "depth", "Depth."),
    Figure("dispatch", "dispatch", "By outcome.", counter=True, per="outcome"),
)


def reporter() -> tuple[FigureReporter, dict[str, Recorded]]:
    made: dict[str, Recorded] = {}

    def make(figure: Figure, tag_keys: tuple[str, ...]) -> Any:
        made[figure.name] = Recorded(figure, tag_keys)
        return made[figure.name]

    return FigureReporter(FIGURES, {"shard": "3"}, make), made


def test_counters_advance_by_what_their_figure_grew_and_gauges_follow_it() -> None:
    report, made = reporter()
    report.report({"events": 10, "depth": 4})
    report.report({"events": 10, "depth": 0})
    report.report({"events": 25, "depth": 2})
    assert made["events"].calls == [("inc", 10, {"shard": "3"}), ("inc", 15, {"shard": "3"})]
    assert [c[1] for c in made["depth"].calls] == [4, 0, 2]


def test_a_figure_counted_again_from_zero_reports_all_of_it_as_new() -> None:
    report, made = reporter()
    report.report({"events": 100})
    report.report({"events": 7})  # the figure was reset
    assert [c[1] for c in made["events"].calls] == [100, 7]


def test_a_figure_per_label_is_one_series_per_entry_tagged_with_it() -> None:
    report, made = reporter()
    assert made["dispatch"].tag_keys == ("shard", "outcome")
    report.report({"dispatch": {"delivered_kafka": 3, "deferred": 1}})
    report.report({"dispatch": {"delivered_kafka": 5, "deferred": 1}})
    assert made["dispatch"].calls == [
        ("inc", 3, {"shard": "3", "outcome": "delivered_kafka"}),
        ("inc", 1, {"shard": "3", "outcome": "deferred"}),
        ("inc", 2, {"shard": "3", "outcome": "delivered_kafka"}),
    ]


def test_a_missing_figure_is_skipped_and_a_refused_metric_is_counted_not_raised() -> None:
    report, made = reporter()
    report.report({})
    assert all(not m.calls for m in made.values())

    def refuse(value: float, tags: dict[str, str] | None = None) -> None:
        raise ValueError("tag not declared")

    made["depth"].set = refuse  # type: ignore[method-assign]
    report.report({"depth": 1})
    report.report({"depth": 2})
    assert report.failures == 2
    assert report.last_error is not None
    assert "tag not declared" in report.last_error


def test_the_ingest_and_scorer_figures_name_keys_their_snapshots_have() -> None:
    ingest = IngestStats().to_dict()
    assert {f.key for f in INGEST_FIGURES} <= set(ingest)
    scorer = {"versions", "epoch", "swaps", "last_swap_error", "shadow_dropped", "swap_failing"}
    assert {f.key for f in SCORER_FIGURES} <= scorer
