"""The ingest loop: Kafka records in, one batch per shard, offsets committed last.

Checkpoint order for one poll (`run_once`):

1. poll up to `max_poll_records` records from the partitions assigned to this consumer;
2. validate each record; an invalid one is queued for the dead-letter topic with its
   raw payload and the reason, and is otherwise skipped;
3. group the valid ones by the shard owning their customer (order within a customer is
   the partition's order, since producers key by customer id);
4. send every shard its batch at once and wait for every ack; a shard that fails or is
   restarting gets its batch again (with backoff and a fresh slot table) until it acks;
5. dead-letter the events a shard refused, and flush the dead-letter producer;
6. commit the offsets of the poll. Only now: a crash anywhere before this redelivers the
   poll, and the customers' applied-event ids make the redelivery harmless.

Nothing in a record can stop the loop: every failure of a single record is a dead letter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from actors.errors import InvalidEventError
from actors.events import parse_event
from actors.host import BatchResult
from actors.metrics import Histogram

log = logging.getLogger(__name__)

# The lag is a figure for operators, measured between polls: it may never hold up the loop.
LAG_TIMEOUT_MS = 1000


class ShardClient(Protocol):
    def refresh(self, force: bool = False) -> Any: ...

    def shard_for(self, customer_id: str) -> int: ...

    def process(self, batches: Mapping[int, list[bytes]]) -> dict[int, BatchResult | Exception]: ...


class EventDeadLetters(Protocol):
    def event_failed(
        self, raw: bytes, key: bytes | None, reason: str, source: tuple[str, int, int] | None
    ) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> None: ...


@dataclass
class IngestStats:
    polls: int = 0
    records: int = 0
    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    actions: int = 0
    shard_retries: int = 0
    commits: int = 0
    last_commit_at: float = 0.0
    poll_ms: Histogram = field(default_factory=Histogram)
    errors: Counter[str] = field(default_factory=Counter)
    # Committed offset, and records behind the end, per "topic:partition".
    committed: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    assignment: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "records": self.records,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "actions": self.actions,
            "shard_retries": self.shard_retries,
            "commits": self.commits,
            "last_commit_at": self.last_commit_at,
            "poll_ms_p99": self.poll_ms.quantile(0.99),
            "errors": dict(self.errors),
            "committed": dict(self.committed),
            "lag": dict(self.lag),
            "total_lag": sum(self.lag.values()),
            "assignment": list(self.assignment),
        }


class IngestLoop:
    def __init__(
        self,
        consumer: KafkaConsumer,
        shards: ShardClient,
        dead_letters: EventDeadLetters,
        poll_timeout_ms: int = 200,
        max_records: int = 2000,
        max_backoff_s: float = 5.0,
        lag_every_s: float = 2.0,
    ) -> None:
        self.consumer = consumer
        self.shards = shards
        self.dead_letters = dead_letters
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.max_backoff_s = max_backoff_s
        self.stats = IngestStats()
        self._stop = threading.Event()
        self._lag_every_s = lag_every_s
        self._lag_at = 0.0

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Poll until `stop()`; every exception is logged and the loop goes on."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as error:  # the loop must outlive any single failure
                self.stats.errors[type(error).__name__] += 1
                log.exception("ingest poll failed; records will be redelivered")
                self._stop.wait(1.0)

    def run_once(self) -> int:
        # 1. poll
        polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        if not polled:
            self._maybe_measure_lag()
            return 0
        started = time.perf_counter()
        self.stats.polls += 1
        self.shards.refresh()
        items: list[tuple[str, TopicPartition, Any]] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, records in polled.items():
            for record in records:
                # 2. validate
                reason = None
                if record.value is None:
                    reason = "empty record (no value)"
                else:
                    try:
                        items.append((parse_event(record.value).actor_id, tp, record))
                    except InvalidEventError as error:
                        reason = error.reason
                if reason is not None:
                    self._dead_letter(tp, record, reason)
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        self.stats.records += sum(len(r) for r in polled.values())
        # 3.-5. one call per shard until every event is acked; refused → dead letters
        for index, reason in self._process_until_acked(items):
            _, tp, record = items[index]
            self._dead_letter(tp, record, reason)
        self.dead_letters.flush()
        # 6. commit
        self.consumer.commit(offsets=offsets)
        self.stats.commits += 1
        self.stats.last_commit_at = time.time()
        for tp, meta in offsets.items():
            self.stats.committed[f"{tp.topic}:{tp.partition}"] = meta.offset
        self.stats.poll_ms.observe((time.perf_counter() - started) * 1000)
        self._maybe_measure_lag()
        return len(items)

    def _maybe_measure_lag(self) -> None:
        if time.monotonic() - self._lag_at >= self._lag_every_s:
            self._measure_lag()

    def _measure_lag(self) -> None:
        """Records behind the end per assigned partition, never below zero.

        Measured here, in the consumer's own thread (kafka-python clients are not thread
        safe). Some Kafka-compatible brokers report end offsets below what they hold;
        clamping keeps the figure meaningful (0 = caught up) instead of negative.

        Every broker call has a deadline. Without one, kafka-python's `committed()` retries
        until the group's coordinator answers, and while the group rebalances after a
        member died it waits for this very consumer to rejoin, which only its next poll
        does: the loop would stop for good. A measurement that fails is skipped.
        """
        self._lag_at = time.monotonic()
        assigned = list(self.consumer.assignment())
        self.stats.assignment = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        if not assigned:
            self.stats.lag = {}
            return
        try:
            ends = self.consumer.end_offsets(assigned, timeout_ms=LAG_TIMEOUT_MS)
            lag = {}
            for tp in assigned:
                name = f"{tp.topic}:{tp.partition}"
                position = self.stats.committed.get(name)
                if position is None:
                    position = self.consumer.committed(tp, timeout_ms=LAG_TIMEOUT_MS) or 0
                lag[name] = max(0, ends.get(tp, 0) - position)
        except KafkaError as error:
            self.stats.errors[f"lag: {type(error).__name__}"] += 1
            log.info("lag not measured this time: %s", error)
            return
        self.stats.lag = lag

    def _process_until_acked(
        self, items: list[tuple[str, TopicPartition, Any]]
    ) -> list[tuple[int, str]]:
        """Deliver every item to its shard; returns (item index, reason) of refused ones."""
        refused: list[tuple[int, str]] = []
        pending = list(range(len(items)))
        backoff = 0.1
        while pending:
            # 3. group by the shard owning each customer now
            groups: dict[int, list[int]] = {}
            for i in pending:
                groups.setdefault(self.shards.shard_for(items[i][0]), []).append(i)
            batches = {shard: [items[i][2].value for i in group] for shard, group in groups.items()}
            # 4. one call per shard, all at once
            results = self.shards.process(batches)
            pending = []
            for shard, result in results.items():
                group = groups[shard]
                if isinstance(result, BatchResult):
                    self.stats.processed += result.processed
                    self.stats.duplicates += result.duplicates
                    self.stats.actions += result.actions
                    refused += [(group[position], reason) for position, reason in result.rejected]
                else:
                    self.stats.errors[type(result).__name__] += 1
                    log.warning("shard %s failed (%s); retrying its batch", shard, result)
                    pending += group
            if not pending:
                break
            if self._stop.is_set():
                raise InterruptedError("ingest stopped with unacknowledged batches")
            self.stats.shard_retries += 1
            time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
            # The slot table may have changed (a shard lost, slots moved).
            self.shards.refresh(force=True)
            pending.sort()  # keep each customer's events in offset order
        return refused

    def _dead_letter(self, tp: TopicPartition, record: Any, reason: str) -> None:
        raw = record.value if record.value is not None else b""
        log.warning(
            "event dead-lettered",
            extra={
                "reason": reason,
                "partition": f"{tp.topic}:{tp.partition}",
                "offset": record.offset,
                "customer_id": record.key.decode(errors="replace") if record.key else None,
            },
        )
        self.dead_letters.event_failed(
            raw, record.key, reason, (tp.topic, tp.partition, record.offset)
        )
        self.stats.dead_lettered += 1
