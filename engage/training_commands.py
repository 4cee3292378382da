"""`engage train`, `engage export` and `engage models compare`: the data scientist's loop.

Each reads its events from one source, named on the command line (`--from`): generated
history, the CDNOW purchases, the events topic (`kafka`), RabbitMQ's events log stream
(`rabbitmq`) or a file `engage export` wrote.
A source that cannot give events is an error, never a fallback to generated data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.brokers.select import BROKER_NAMES
from actors.model.model_names import MODEL_NAMES
from actors.rules.durations import parse_duration

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from actors.catalog.catalog import Catalog
    from actors.model.events import Event
    from engage.settings import Settings
    from training.registry import ModelRegistry
    from training.sources import TrainingData

    Handler = Callable[[argparse.Namespace, Settings], int]


def registry_of(settings: Settings) -> ModelRegistry:
    from training.registry import ModelRegistry

    return ModelRegistry(settings.redis.require_url(), settings.redis.prefix)


def parse_when(text: str) -> float:
    """An instant: ISO 8601 (`2026-11-01T00:00:00Z`), epoch seconds, or a duration
    meaning that long ago (`7d`)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (ISO 8601, epoch seconds, or a duration ago such as 7d)"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z or +00:00")
    return parsed.timestamp()


def parse_offsets(text: str) -> dict[int, int]:
    """`0:120,1:80`: partition 0 from offset 120, partition 1 from 80."""
    try:
        pairs = [part.split(":") for part in text.split(",") if part]
        return {int(p): int(o) for p, o in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not partition offsets: {text!r} (write e.g. 0:120,1:80)"
        ) from None


def window(text: str) -> float:
    """A positive duration: 90s, 30m, 7d."""
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a window must be longer than 0")
    return seconds


def add_source_arguments(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--from",
        dest="source",
        default=default,
        help="generated, cdnow, broker (what the event broker in use keeps), kafka (the "
        "events topic), rabbitmq (the events log stream), or a .jsonl/.parquet file",
    )
    parser.add_argument("--since", type=parse_when, help="first event time (ISO, epoch, 7d)")
    parser.add_argument("--until", type=parse_when, help="last event time; the data's end")
    parser.add_argument("--from-offsets", type=parse_offsets, help="kafka: 0:120,1:80")
    parser.add_argument("--to-offsets", type=parse_offsets, help="kafka: stop before these")
    parser.add_argument("--customers", type=int, default=2000, help="generated customers")
    parser.add_argument("--days", type=float, default=60.0, help="generated history length")
    parser.add_argument("--seed", type=int, default=7, help="generated history's seed")


def load_source(args: argparse.Namespace, settings: Settings) -> TrainingData:
    from engage.progress import progress as progress_bar
    from training import sources

    source = args.source
    if source == "generated":
        return sources.generated(args.customers, args.days, args.seed)
    if source == "cdnow":
        return sources.cdnow()
    if source == "broker" or source in BROKER_NAMES:
        from actors.brokers.base import OffsetRange
        from actors.brokers.select import broker_of

        broker = (
            settings.event_broker()
            if source == "broker"
            else broker_of(source, settings.kafka, settings.rabbitmq)
        )
        offsets = OffsetRange(args.from_offsets, args.to_offsets)
        forgotten = forgotten_of(settings, required=True)
        reading = f"reading {broker.name}'s events"
        with progress_bar(desc=reading, unit="rec", file=sys.stderr) as bar:
            return sources.from_broker(
                broker,
                since=args.since,
                until=args.until,
                offsets=offsets,
                progress=bar.update,
                forgotten=forgotten,
            )
    forgotten = forgotten_of(settings, required=False)
    return sources.from_file(Path(source), args.since, args.until, forgotten)


def served_catalog(settings: Settings) -> Catalog:
    """The catalogue this engage serves (the demo's before any is loaded, or without
    ENGAGE_REDIS_URL): what the recommender's rows describe the offers by."""
    from actors.catalog.catalog import built_in
    from actors.catalog.store import CatalogStore

    if settings.redis.url is None:
        return built_in()
    return CatalogStore.connect(settings.redis.url, settings.redis.prefix).current()


def forgotten_of(settings: Settings, required: bool) -> set[str]:
    """Customers forgotten lately, whose events export and training leave out. Reading
    the broker's history needs them (ENGAGE_REDIS_URL), so a forgotten customer never
    comes back through training; a file is filtered when Redis is known."""
    from actors.storage.forgotten import forgotten_actors

    if settings.redis.url is None and not required:
        return set()
    return forgotten_actors(settings.redis.require_url(), settings.redis.prefix)


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from engage.progress import progress as progress_bar
    from training.pipeline import train

    registry = registry_of(settings)
    data = load_source(args, settings)
    if data.source.get("kind") not in ("generated", "cdnow"):
        # Collected data names the offers this engage serves: describe them as served.
        data = dataclasses.replace(data, catalog=served_catalog(settings))
    if data.rejected:
        print(
            f"{data.rejected:,} records were not valid events (first: {data.first_rejection})",
            file=sys.stderr,
        )
    with progress_bar(total=5, desc=f"train {args.model}", unit="step", file=sys.stderr) as bar:

        def progress(stage: str) -> None:
            bar.set_postfix_str(stage)
            bar.update(1)

        outcome = train(
            args.model,
            registry,
            data,
            label_window_s=args.label_window,
            server_labels_only=args.server_labels_only,
            test_share=args.test_share,
            report_dir=Path(args.reports),
            promote=args.promote,
            force=args.force,
            progress=progress,
        )
        bar.update(5 - bar.n)
    version = outcome.version
    counts = version.data.get("counts", {})
    spec = version.feature_spec_version
    print(f"registered {version.name} v{version.version} (feature spec v{spec})")
    print(
        f"  labels: {counts.get('train_positives', 0):,}/{counts.get('train_rows', 0):,} "
        f"positive in training, {counts.get('test_positives', 0):,}/"
        f"{counts.get('test_rows', 0):,} in the recent window, "
        f"{counts.get('pending', 0):,} pending"
    )
    if counts.get("client_positives"):
        print(
            f"  {counts['client_positives']:,} positives rest only on clicks a client key "
            "reported (a copied key could send them); --server-labels-only leaves them out"
        )
    for key, value in sorted(version.metrics.items()):
        print(f"  {key:<32} {value:.4f}")
    print(f"  {'beats its baseline':<32} {'yes' if outcome.beats_baseline else 'NO'}")
    if outcome.comparison is not None:
        print(f"  {'against the champion':<32} {_verdict(outcome.comparison)}")
    if outcome.report:
        print(f"report: {outcome.report}")
    if args.promote:
        print(f"promoted {version.name} v{version.version} to champion")
    return 0 if outcome.beats_baseline else 3


def _verdict(comparison: dict[str, Any]) -> str:
    if "metrics" not in comparison:
        return f"v{comparison.get('champion_version')}: {comparison.get('reason')}"
    primary = comparison["primary"]
    m = comparison["metrics"][primary]
    low, high = m["difference_ci95"]
    verdict = comparison["verdict"]
    relation = "from" if verdict == "no clear difference" else "than"
    return (
        f"{verdict} {relation} v{comparison['champion_version']} on {primary} "
        f"({m['candidate']:.4f} vs {m['champion']:.4f}, difference 95% CI "
        f"[{low:.4f}, {high:.4f}])"
    )


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from training.export import write_events

    if args.source is None:
        args.source = "broker"
    data = load_source(args, settings)
    out = Path(args.out)
    if args.view is not None:
        return _export_view(args, data.events, out)
    if args.labels is not None:
        return _export_labelled(args, data.events, out)
    written = write_events(data.events, out)
    print(
        f"exported {written:,} events to {out} ({data.rejected:,} invalid records skipped, "
        f"{data.forgotten:,} of forgotten customers left out)"
    )
    if data.first_rejection:
        print(f"first invalid record: {data.first_rejection}", file=sys.stderr)
    return 0


def _export_view(args: argparse.Namespace, events: Sequence[Event], out: Path) -> int:
    from actors.model.feature_views import resolve
    from training.labelled_export import write_labelled
    from training.view_rows import view_rows

    if args.outcome is None or args.label_window is None:
        print("--view needs --outcome and --label-window", file=sys.stderr)
        return 2
    asked_on = [t.strip() for t in args.asked_on.split(",") if t.strip()]
    table = view_rows(events, resolve(args.view), asked_on, args.outcome, args.label_window)
    write_labelled(table, out)
    print(
        f"exported {table.rows:,} rows of the view {args.view!r} to {out}: "
        f"{table.count(1):,} with {args.outcome} within the window, {table.count(0):,} "
        f"without, {table.count(None):,} pending (label window still open)"
    )
    return 0


def _export_labelled(args: argparse.Namespace, events: Sequence[Event], out: Path) -> int:
    from training.labelled_export import labelled_table, write_labelled

    table = labelled_table(events, args.labels, args.label_window)
    write_labelled(table, out)
    print(
        f"exported {table.rows:,} {args.labels} rows to {out}: {table.count(1):,} positive, "
        f"{table.count(0):,} negative, {table.count(None):,} pending (label window still open)"
    )
    return 0


def compare_offline(args: argparse.Namespace, settings: Settings) -> int:
    """`engage models compare MODEL --candidate N --from ...`: on the data's recent window."""
    from training.pipeline import compare_versions

    registry = registry_of(settings)
    data = load_source(args, settings)
    comparison = compare_versions(
        registry,
        args.name,
        args.candidate,
        data,
        label_window_s=args.label_window,
        test_share=args.test_share,
    )
    print(json.dumps(comparison, indent=2, default=str))
    print(f"v{args.candidate}: {_verdict(comparison)}", file=sys.stderr)
    return 0


def add_commands(sub: Any, handlers: dict[str, Handler]) -> None:
    training = sub.add_parser("train", help="train, evaluate, compare, report and register")
    training.add_argument("model", choices=MODEL_NAMES)
    add_source_arguments(training, default=None)
    add_split_arguments(training)
    training.add_argument("--reports", default="reports", help="folder for the HTML reports")
    training.add_argument("--promote", action="store_true", help="make it the champion")
    training.add_argument("--force", action="store_true", help="promote even if worse")
    training.add_argument(
        "--server-labels-only",
        action="store_true",
        help="learn only from outcomes servers confirmed, not from clicks a client key reported",
    )
    handlers["train"] = _with_default_source(_train)

    export = sub.add_parser("export", help="write events (or labelled training rows)")
    export.add_argument(
        "--out", required=True, help="a .jsonl or .parquet file (with --labels: .parquet or .csv)"
    )
    export.add_argument(
        "--labels",
        choices=["fraud", "recommender"],
        help="write the model's training rows (features and joined label) instead of events",
    )
    export.add_argument(
        "--label-window", type=window, help="with --labels: how long to wait for the outcome"
    )
    export.add_argument(
        "--view",
        help="a model of your own: write its feature view (customer, payment, or feature "
        "names) at each event of --asked-on, labelled by --outcome",
    )
    export.add_argument(
        "--asked-on",
        default="page_view,product_view,cart_add,purchase,login,content_view,custom",
        help="with --view: the event types the model is asked on (comma-separated)",
    )
    export.add_argument(
        "--outcome", help="with --view: what it predicts, an event type or custom:NAME"
    )
    add_source_arguments(export, default=None)  # the event broker in use
    handlers["export"] = _export


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label-window", type=window, help="how long to wait for the outcome (e.g. 7d)"
    )
    parser.add_argument(
        "--test-share", type=float, default=0.25, help="the most recent share of time tested on"
    )


def _with_default_source(handler: Handler) -> Handler:
    """Win-back defaults to the CDNOW purchases, the others to generated history."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        if args.source is None:
            args.source = "cdnow" if args.model == "winback" else "generated"
        return handler(args, settings)

    return run


def models_drift(args: argparse.Namespace, settings: Settings) -> int:
    """`engage models drift MODEL`: the champion's live window against its training window.
    Exit 4 when anything moved past the threshold, for a scheduler to act on."""
    import asyncio

    from serving.drift import MIN_SCORES, champion_drift
    from serving.series import feature_series

    registry = registry_of(settings)
    series = feature_series(
        settings.redis.require_url(), settings.redis.prefix, settings.api.feature_sample_s
    )

    async def measure() -> dict[str, Any]:
        try:
            return await champion_drift(registry, series, args.name, args.window)
        finally:
            await series.close()

    result = asyncio.run(measure())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        trained = registry.get(args.name, result["version"]).data["reference"]["rows"]
        print(
            f"{args.name} v{result['version']}: the last {args.window:g} s "
            f"({result['live_rows']:,} live rows) against its training window "
            f"({trained:,} rows); PSI over {result['threshold']} has moved"
        )
        if not result["features"]:
            print(f"  fewer than {MIN_SCORES} live rows: no index yet")
        figures = [("score", result["score"]), *result["features"].items()]
        for name, value in sorted(figures, key=lambda f: -(f[1] or 0.0)):
            if value is None:
                continue
            mark = "  MOVED" if value > result["threshold"] else ""
            print(f"  {name:<28} {value:8.3f}{mark}")
    return 4 if result["drifted"] else 0
