"""Where training events come from: generated history, an exported file, or the topic.

Every source yields the same thing, `TrainingData`: events validated by the live schema,
the event-time range asked for, and a record of where they came from, kept with each
model version so a run can be repeated. Records that are not valid events are counted and
their first reason kept; they are never dropped silently and never replaced by generated
data.

* `generated(...)`: the seeded synthetic history (also knows every offer's counterfactual);
* `from_file(path)`: JSON lines (`.jsonl`, `.ndjson`, `.json`) or Parquet as written by
  `engage export` (`training/export.py`);
* `from_kafka(config, ...)`: the events topic, from an event-time or offset range, up to the
  end each partition had when reading began, so a live topic still ends the read.
* `from_rabbitmq(config, ...)`: RabbitMQ's events log stream, from an event-time range, up
  to where the stream stood when reading began.
* `cdnow()`: the CDNOW purchase history (win-back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError
from pika.exceptions import AMQPError

from actors.brokers.amqp import read_events_log
from actors.brokers.kafka import BrokerUnavailableError, make_consumer
from actors.config import KafkaConfig, RabbitMQConfig
from actors.errors import InvalidEventError, TrainingDataError
from actors.model.events import Event, parse_event
from training.cdnow import read_cdnow
from training.synthetic import generate

Counterfactuals = list[tuple[str, float, dict[str, bool]]]
Progress = Callable[[int], object]

# A record stamped this much after reading began still belongs to the read: producers'
# clocks are not the reader's.
KAFKA_CLOCK_SLACK_S = 60.0
# Records reach the topic after the event happened (a mobile app sends a day's events when
# it comes online), so reading from an event time starts this much earlier in the log's
# own time and filters on event time.
KAFKA_SEEK_SLACK_S = 6 * 3_600.0


@dataclass
class TrainingData:
    events: list[Event]
    source: dict[str, Any]
    # The end of the data: labels whose window closes after it are pending.
    as_of: float
    rejected: int = 0
    first_rejection: str | None = None
    counterfactuals: Counterfactuals = field(default_factory=list)

    def provenance(self) -> dict[str, Any]:
        return {
            **self.source,
            "events": len(self.events),
            "rejected": self.rejected,
            "first_rejection": self.first_rejection,
            "as_of": self.as_of,
        }


class _Collector:
    """Validates raw records, keeps those in the event-time range, counts the rest."""

    def __init__(self, since: float | None, until: float | None) -> None:
        self.since = since
        self.until = until
        self.events: list[Event] = []
        self.rejected = 0
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
        )


def generated(customers: int = 2000, days: float = 60.0, seed: int = 7) -> TrainingData:
    data = generate(customers=customers, days=days, seed=seed)
    source = {"kind": "generated", "customers": customers, "days": days, "seed": seed}
    as_of = max(e.ts for e in data.events)
    return TrainingData(data.events, source, as_of, counterfactuals=data.counterfactuals)


def cdnow() -> TrainingData:
    events = list(read_cdnow())
    return TrainingData(events, {"kind": "cdnow"}, max(e.ts for e in events))


def from_file(path: Path, since: float | None = None, until: float | None = None) -> TrainingData:
    if not path.exists():
        raise TrainingDataError(f"{path}: no such file")
    collector = _Collector(since, until)
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


def from_kafka(
    config: KafkaConfig,
    *,
    since: float | None = None,
    until: float | None = None,
    from_offsets: dict[int, int] | None = None,
    to_offsets: dict[int, int] | None = None,
    idle_timeout_s: float = 30.0,
    progress: Progress | None = None,
) -> TrainingData:
    """The events topic between two event times (or partition offsets)."""
    collector = _Collector(since, until)
    topic = config.events_topic
    seek = None if since is None else int((since - KAFKA_SEEK_SLACK_S) * 1000)
    span: dict[str, Any] = {}
    for partition, offset, raw in read_topic(
        config, topic, seek, from_offsets, to_offsets, idle_timeout_s, span
    ):
        collector.add_raw(raw, f"{topic}[{partition}]@{offset}")
        if progress is not None:
            progress(1)
    source = {
        "kind": "kafka",
        "bootstrap": config.require_bootstrap(),
        "topic": topic,
        "offsets": span,
    }
    return collector.finish(source)


def read_topic(
    config: KafkaConfig,
    topic: str,
    seek_ms: int | None,
    from_offsets: dict[int, int] | None,
    to_offsets: dict[int, int] | None,
    idle_timeout_s: float,
    span: dict[str, Any],
) -> Iterator[tuple[int, int, bytes]]:
    """(partition, offset, value) of every record from the start positions to the end of
    each partition as it was when reading began.

    The end is found by reading, not by asking: some Kafka-compatible brokers report end
    offsets below the records they hold. A partition ends at a record appended after the
    read began (its timestamp, with `KAFKA_CLOCK_SLACK_S` for producers' clocks), at
    `to_offsets`, or when a fetch brings nothing and the broker confirms the position is
    at its end. That confirmation is a request, so a broker that stops answering ends the
    read with `BrokerUnavailableError` (after at most `idle_timeout_s`) instead of a
    silently shorter data set."""
    # Every request is bounded by the idle timeout too: kafka-python's own default would
    # let a paused broker hold the first connection for 30 s and a request for five minutes.
    timeout_ms = max(int(idle_timeout_s * 1000), config.session_timeout_ms + 1)
    consumer = make_consumer(
        config,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    began_ms = int((time.time() + KAFKA_CLOCK_SLACK_S) * 1000)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TrainingDataError(f"topic {topic} does not exist on {config.bootstrap}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        starts = dict(consumer.beginning_offsets(assigned))
        if seek_ms is not None:
            found = consumer.offsets_for_times(dict.fromkeys(assigned, seek_ms))
            ends = consumer.end_offsets(assigned)
            for tp, at in found.items():
                starts[tp] = at.offset if at is not None else ends[tp]
        stops = {tp: (to_offsets or {}).get(tp.partition) for tp in assigned}
        for tp in assigned:
            starts[tp] = max(starts[tp], (from_offsets or {}).get(tp.partition, 0))
            consumer.seek(tp, starts[tp])
        read_to = dict(starts)
        remaining = {tp for tp in assigned if stops[tp] is None or starts[tp] < stops[tp]}
        consumer.pause(*(set(assigned) - remaining))
        last_progress = time.monotonic()
        while remaining:
            batches = consumer.poll(timeout_ms=500, max_records=2000)
            done: set[TopicPartition] = set()
            for tp, records in batches.items():
                for record in records:
                    stop = stops[tp]
                    if (stop is not None and record.offset >= stop) or record.timestamp > began_ms:
                        done.add(tp)
                        break
                    read_to[tp] = record.offset + 1
                    yield tp.partition, record.offset, record.value
            if batches:
                last_progress = time.monotonic()
            else:
                # Nothing came: at the end, or the broker is gone. Asking tells which.
                ends = consumer.end_offsets(list(remaining))
                done |= {tp for tp in remaining if consumer.position(tp) >= ends[tp]}
                if not done and time.monotonic() - last_progress > idle_timeout_s:
                    raise BrokerUnavailableError(
                        config.require_bootstrap(),
                        f"no records for {idle_timeout_s:g} s with {len(remaining)} "
                        "partitions short of their end",
                    )
            for tp in done & remaining:
                remaining.discard(tp)
                consumer.pause(tp)
        span.update({str(tp.partition): [starts[tp], read_to[tp]] for tp in assigned})
    except KafkaError as error:
        raise BrokerUnavailableError(config.require_bootstrap(), str(error)) from error
    finally:
        consumer.close()


def from_rabbitmq(
    rabbitmq: RabbitMQConfig,
    since: float | None = None,
    until: float | None = None,
    progress: Progress | None = None,
) -> TrainingData:
    """The events log stream (`ENGAGE_RABBITMQ_EVENTS_LOG`): every event published, read
    from a little before `since` in the stream's own time (events arrive after they happen,
    as on Kafka) and filtered on event time."""
    url = rabbitmq.require_url()
    collector = _Collector(since, until)
    read = 0

    def seen(raw: bytes) -> None:
        nonlocal read
        read += 1
        collector.add_raw(raw, f"{rabbitmq.events_log} message {read}")
        if progress is not None:
            progress(1)

    # Never later than now: the read ends at a marker published just before it starts.
    begin = None if since is None else min(since - KAFKA_SEEK_SLACK_S, time.time() - 60.0)
    start = None if begin is None else datetime.fromtimestamp(begin, UTC)
    try:
        read_events_log(url, rabbitmq.events_log, start, seen)
    except (AMQPError, OSError, TimeoutError) as error:
        raise BrokerUnavailableError(url.split("@")[-1], repr(error)) from error
    return collector.finish({"kind": "rabbitmq", "stream": rabbitmq.events_log})
