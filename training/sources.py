"""Where training events come from: generated history, an exported file, or the topic.

Every source yields the same thing, `TrainingData`: events validated by the live schema,
the event-time range asked for, and a record of where they came from, kept with each
model version so a run can be repeated. Records that are not valid events are counted and
their first reason kept; they are never dropped silently and never replaced by generated
data.

* `generated(...)`: the seeded synthetic history (also knows every offer's counterfactual);
* `from_file(path)`: JSON lines (`.jsonl`, `.ndjson`, `.json`) or Parquet as written by
  `engage export` (`training/export.py`);
* `from_broker(broker, ...)`: what the event broker keeps (Kafka's events topic, RabbitMQ's
  events log stream), from an event-time range (or Kafka offsets), up to where it stood when
  reading began, so a live broker still ends the read (actors.brokers.base).
* `cdnow()`: the CDNOW purchase history (win-back).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.brokers.base import Broker, OffsetRange
from actors.catalog.catalog import Catalog
from actors.errors import InvalidEventError, TrainingDataError
from actors.model.events import ANON_PREFIX, Event, parse_event
from training.cdnow import read_cdnow
from training.synthetic import generate

Counterfactuals = list[tuple[str, float, dict[str, bool]]]
Progress = Callable[[int], object]

# Records reach the broker after the event happened (a mobile app sends a day's events when
# it comes online), so reading from an event time starts this much earlier in the broker's
# own time and filters on event time.
SEEK_SLACK_S = 6 * 3_600.0


@dataclass
class TrainingData:
    events: list[Event]
    source: dict[str, Any]
    # The end of the data: labels whose window closes after it are pending.
    as_of: float
    rejected: int = 0
    first_rejection: str | None = None
    counterfactuals: Counterfactuals = field(default_factory=list)
    # Events of customers forgotten lately (DELETE /v1/customers/{id}), left out.
    forgotten: int = 0
    # The offers as the recommender's rows describe them: the served catalogue where the
    # data came from a running engage, else the demo's (actors.catalog.catalog.built_in).
    catalog: Catalog | None = None

    def provenance(self) -> dict[str, Any]:
        return {
            **self.source,
            "events": len(self.events),
            "rejected": self.rejected,
            "first_rejection": self.first_rejection,
            "forgotten": self.forgotten,
            "as_of": self.as_of,
        }


class _Collector:
    """Validates raw records, keeps those in the event-time range and of customers not
    forgotten, counts the rest."""

    def __init__(
        self, since: float | None, until: float | None, forgotten: Collection[str] = ()
    ) -> None:
        self.since = since
        self.until = until
        self.forgotten_ids = forgotten
        self.events: list[Event] = []
        self.rejected = 0
        self.forgotten = 0
        self.first_rejection: str | None = None

    def add_raw(self, raw: bytes | str, where: str) -> None:
        try:
            event = parse_event(raw)
        except InvalidEventError as error:
            self.rejected += 1
            if self.first_rejection is None:
                self.first_rejection = f"{where}: {error.reason}"
            return
        self.add(event)

    def add(self, event: Event) -> None:
        if self.since is not None and event.ts < self.since:
            return
        if self.until is not None and event.ts > self.until:
            return
        if self.forgotten_ids and _names_forgotten(event, self.forgotten_ids):
            self.forgotten += 1
            return
        self.events.append(event)

    def finish(self, source: dict[str, Any]) -> TrainingData:
        if not self.events:
            raise TrainingDataError(
                f"no events in {source} between {self.since} and {self.until} "
                f"({self.rejected:,} records rejected; first: {self.first_rejection})"
            )
        as_of = self.until if self.until is not None else max(e.ts for e in self.events)
        return TrainingData(
            self.events,
            {**source, "since": self.since, "until": self.until},
            as_of,
            self.rejected,
            self.first_rejection,
            forgotten=self.forgotten,
        )


def _names_forgotten(event: Event, forgotten: Collection[str]) -> bool:
    """Whether the event is of a forgotten customer or visitor (either id it names)."""
    if event.customer_id is not None and event.customer_id in forgotten:
        return True
    return event.anonymous_id is not None and ANON_PREFIX + event.anonymous_id in forgotten


def generated(customers: int = 2000, days: float = 60.0, seed: int = 7) -> TrainingData:
    data = generate(customers=customers, days=days, seed=seed)
    source = {"kind": "generated", "customers": customers, "days": days, "seed": seed}
    as_of = max(e.ts for e in data.events)
    return TrainingData(data.events, source, as_of, counterfactuals=data.counterfactuals)


def cdnow() -> TrainingData:
    events = list(read_cdnow())
    return TrainingData(events, {"kind": "cdnow"}, max(e.ts for e in events))


def from_file(
    path: Path,
    since: float | None = None,
    until: float | None = None,
    forgotten: Collection[str] = (),
) -> TrainingData:
    if not path.exists():
        raise TrainingDataError(f"{path}: no such file")
    collector = _Collector(since, until, forgotten)
    if path.suffix == ".parquet":
        for n, raw in enumerate(_parquet_payloads(path), start=1):
            collector.add_raw(raw, f"{path} row {n}")
    else:
        with open(path, "rb") as lines:
            for n, line in enumerate(lines, start=1):
                if line.strip():
                    collector.add_raw(line, f"{path}:{n}")
    return collector.finish({"kind": "file", "path": str(path.resolve())})


def _parquet_payloads(path: Path) -> Iterator[str]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    if "payload" not in table.schema_arrow.names:
        raise TrainingDataError(f"{path}: not an engage export (no 'payload' column)")
    for batch in table.iter_batches(columns=["payload"]):
        yield from batch.column(0).to_pylist()


def from_broker(
    broker: Broker,
    *,
    since: float | None = None,
    until: float | None = None,
    offsets: OffsetRange | None = None,
    idle_timeout_s: float = 30.0,
    progress: Progress | None = None,
    forgotten: Collection[str] = (),
) -> TrainingData:
    """What the broker keeps between two event times (or, on Kafka, partition offsets),
    without the events of `forgotten` actors (actors.storage.forgotten)."""
    collector = _Collector(since, until, forgotten)

    def seen(where: str, raw: bytes) -> None:
        collector.add_raw(raw, where)
        if progress is not None:
            progress(1)

    start_at = None if since is None else since - SEEK_SLACK_S
    return collector.finish(broker.read_events(start_at, seen, offsets, idle_timeout_s))
