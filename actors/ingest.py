"""The ingest loop: Kafka records in, one batch per shard, offsets committed last.

Checkpoint order for one poll (`run_once`):

1. poll up to `max_poll_records` records from the partitions assigned to this consumer;
2. validate each record (schema, then event-time bounds); an invalid one is queued for
   the dead-letter topic with its raw payload and the reason, and is otherwise skipped;
3. group the valid ones by the shard owning their customer (order within a customer is
   the partition's order, since producers key by customer id);
4. send every shard its batch at once and wait for every ack; a shard that fails with an
   outage (Redis, Ray, contention) gets its batch again, with backoff and a fresh slot
   table, for at most `retry_s`; a batch that fails otherwise `poison_after` times is
   sent one event at a time, and an event that still fails alone is dead-lettered;
5. dead-letter the events a shard refused, and flush the dead-letter producer;
6. commit the offsets of the poll. Only now: a crash anywhere before this redelivers the
   poll, and the customers' applied-event ids make the redelivery harmless.

Any failure between 1 and 6 (an outage that outlasts `retry_s`, the slot table or the
dead-letter topic out of reach, a failed commit) rewinds every polled partition to the
poll's first offset before the error leaves `run_once`: kafka-python has already moved
its position past the records, and polling on without the rewind would let the next
commit skip them. `run` then waits (exponential backoff) and polls the same records again.

Nothing in a record can stop the loop: every failure of a single record is a dead letter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.brokers.base import (
    Consumer,
    EventDeadLetters,
    Partition,
    Record,
    redelivered,
    replay_of,
)
from actors.errors import IngestRetryExhaustedError, InvalidEventError, OutageError
from actors.hosting.batch import BatchResult
from actors.metrics import Histogram
from actors.model.dedup import NO_POSITION, REDELIVERED, pack_position
from actors.model.event_time import EventTimeBounds
from actors.model.events import parse_event
from actors.model.identity import redirected

log = logging.getLogger(__name__)


class ShardClient(Protocol):
    def refresh(self, force: bool = False) -> Any: ...

    def shard_for(self, customer_id: str) -> int: ...

    def process(
        self,
        batches: Mapping[int, list[bytes]],
        positions: Mapping[int, list[int]] | None = None,
        read_at: float | None = None,
        origins: Mapping[int, list[str | None]] | None = None,
    ) -> dict[int, BatchResult | Exception]: ...


@dataclass
class IngestStats:
    polls: int = 0
    records: int = 0
    processed: int = 0
    duplicates: int = 0
    # Events of forgotten customers, not applied (their tombstone lasts).
    suppressed: int = 0
    dead_lettered: int = 0
    actions: int = 0
    shard_retries: int = 0
    rewinds: int = 0
    commits: int = 0
    # Events of visitors merged into customers, sent on to the customer's shard.
    redirected: int = 0
    last_commit_at: float = 0.0
    # When a poll last ended well (committed, or found nothing to do), and why the polls
    # since then failed: a loop failing for longer than it should is stalled.
    last_progress_at: float = field(default_factory=time.time)
    last_error: str | None = None
    poll_ms: Histogram = field(default_factory=Histogram)
    errors: Counter[str] = field(default_factory=Counter)
    # Committed offset, and records behind the end, per "topic:partition".
    committed: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    assignment: list[str] = field(default_factory=list)

    def stalled_s(self, now: float | None = None) -> float:
        """Seconds since a poll last ended well, while polls keep failing (0: not stalled)."""
        if self.last_error is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.last_progress_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "records": self.records,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "dead_lettered": self.dead_lettered,
            "actions": self.actions,
            "shard_retries": self.shard_retries,
            "rewinds": self.rewinds,
            "commits": self.commits,
            "redirected": self.redirected,
            "last_commit_at": self.last_commit_at,
            "stalled_s": round(self.stalled_s(), 3),
            "last_error": self.last_error,
            "poll_ms_p99": self.poll_ms.quantile(0.99),
            "poll_ms": self.poll_ms.to_dict(),
            "errors": dict(self.errors),
            "committed": dict(self.committed),
            "lag": dict(self.lag),
            "total_lag": sum(self.lag.values()),
            "assignment": list(self.assignment),
        }


@dataclass
class _Item:
    """A valid record on its way to a shard: the actor it goes to, where it was read, and
    the visitor it was read for when it was sent on to the customer of a merge."""

    actor_id: str
    tp: Partition
    record: Record
    origin: str | None = None


class IngestLoop:
    def __init__(
        self,
        consumer: Consumer,
        shards: ShardClient,
        dead_letters: EventDeadLetters,
        poll_timeout_ms: int = 200,
        max_records: int = 2000,
        max_backoff_s: float = 5.0,
        lag_every_s: float = 2.0,
        retry_s: float = 20.0,
        poison_after: int = 3,
        commit_timeout_ms: int = 5000,
        event_time: EventTimeBounds | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumer = consumer
        self.shards = shards
        self.dead_letters = dead_letters
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.max_backoff_s = max_backoff_s
        self.retry_s = retry_s
        self.poison_after = poison_after
        self.commit_timeout_ms = commit_timeout_ms
        self.event_time = event_time or EventTimeBounds()
        self.clock = clock
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
        """Poll until `stop()`. A failed poll was rewound by `run_once`; the loop waits,
        longer after each failure in a row, and polls the same records again."""
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self.run_once()
                backoff = 0.1
                self.stats.last_progress_at = time.time()
                self.stats.last_error = None
            except Exception as error:  # rewound already: the records come back
                self.stats.errors[type(error).__name__] += 1
                self.stats.last_error = _describe(error)
                log.warning("ingest poll failed and was rewound; retrying: %s", error)
                self._stop.wait(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, self.max_backoff_s)

    def run_once(self) -> int:
        # 1. poll
        polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        if not polled:
            self._maybe_measure_lag()
            return 0
        try:
            return self._handle(polled)
        except BaseException:
            self._rewind(polled)
            raise

    def _rewind(self, polled: Mapping[Partition, Sequence[Record]]) -> None:
        """Put each polled partition back to the poll's first offset (local, no I/O). A
        partition taken away by a rebalance meanwhile is left alone: its new owner starts
        from the last commit, which is at or before these records."""
        assigned = self.consumer.assignment()
        for tp, records in polled.items():
            if records and tp in assigned:
                self.consumer.seek(tp, records[0].offset)
        self.stats.rewinds += 1

    def _handle(self, polled: Mapping[Partition, Sequence[Record]]) -> int:
        started = time.perf_counter()
        self.stats.polls += 1
        self.shards.refresh()
        arrived_at = self.clock()
        items: list[_Item] = []
        offsets: dict[Partition, int] = {}
        for tp, records in polled.items():
            for record in records:
                # 2. validate
                actor_id, reason = self._validate(record, arrived_at)
                if actor_id is None:
                    self._dead_letter(tp, record, reason)
                else:
                    items.append(_Item(actor_id, tp, record))
            offsets[tp] = records[-1].offset + 1
        self.stats.records += sum(len(r) for r in polled.values())
        # 3.-5. one call per shard until every event is acked; refused → dead letters
        for index, reason in self._process_until_acked(items, arrived_at):
            item = items[index]
            self._dead_letter(item.tp, item.record, reason)
        self.dead_letters.flush()
        # 6. commit, with a deadline: while the group rebalances, a commit is refused or
        # held until the group is stable again, which needs this consumer to poll. Without
        # a deadline kafka-python retries for `request_timeout_ms` (30 s) and ingest
        # stands still; with one the poll is rewound and the next poll rejoins the group.
        self.consumer.commit(offsets=offsets, timeout_ms=self.commit_timeout_ms)
        self.stats.commits += 1
        self.stats.last_commit_at = time.time()
        for tp, offset in offsets.items():
            self.stats.committed[f"{tp.topic}:{tp.partition}"] = offset
        self.stats.poll_ms.observe((time.perf_counter() - started) * 1000)
        self._maybe_measure_lag()
        return len(items)

    def _validate(self, record: Record, arrived_at: float) -> tuple[str | None, str]:
        """(the id of the actor the record goes to, "") or (None, why it is refused)."""
        if record.value is None:
            return None, "empty record (no value)"
        try:
            event = parse_event(record.value)
        except InvalidEventError as error:
            return None, error.reason
        reason = self.event_time.violation(event, arrived_at)
        return (None, reason) if reason is not None else (event.actor_id, "")

    def _maybe_measure_lag(self) -> None:
        if time.monotonic() - self._lag_at >= self._lag_every_s:
            self._measure_lag()

    def _measure_lag(self) -> None:
        """Records behind the end per assigned partition, never below zero.

        Measured from what the consumer already knows, without a broker call: the high
        watermark of each partition arrives with every fetch response. A broker call here
        would be abandoned at its deadline but stay in flight, and kafka-python sends no
        fetch to a node with a request outstanding: each abandoned call stalled ingest for
        `request_timeout_ms` (30 s). Some Kafka-compatible brokers report high watermarks
        below what they hold; clamping keeps the figure meaningful (0 = caught up).
        """
        self._lag_at = time.monotonic()
        assigned = list(self.consumer.assignment())
        self.stats.assignment = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        lag = {}
        for tp in assigned:
            name = f"{tp.topic}:{tp.partition}"
            end = self.consumer.highwater(tp)
            if end is None:
                continue  # nothing fetched yet: unknown, not zero
            # A partition fetched but never returned a record to this replica is caught up:
            # a record behind the high watermark would have come with the fetch. (Not
            # `position()`: it may ask the broker, and that request would outlive its
            # deadline in flight.)
            position = self.stats.committed.get(name, end)
            lag[name] = max(0, end - position)
        self.stats.lag = lag

    def _process_until_acked(self, items: list[_Item], read_at: float) -> list[tuple[int, str]]:
        """Deliver every item to its shard; returns (item index, reason) of refused ones.

        Raises `IngestRetryExhaustedError` when shards keep failing past `retry_s`.
        """
        refused: list[tuple[int, str]] = []
        pending = list(range(len(items)))
        failures: Counter[int] = Counter()
        redirects: Counter[int] = Counter()
        deadline = time.monotonic() + self.retry_s
        backoff = 0.1
        while pending:
            # 3. group by the shard owning each customer now; items whose batches kept
            # failing for a reason other than an outage travel alone
            solo = [i for i in pending if failures[i] >= self.poison_after]
            groups: dict[int, list[int]] = {}
            for i in pending:
                if failures[i] < self.poison_after:
                    groups.setdefault(self.shards.shard_for(items[i].actor_id), []).append(i)
            failed: list[int] = []
            # A visitor's events its shard sent on to the customer it was merged into.
            moved: list[int] = []
            last_error: Exception | None = None
            if groups:
                # 4. one call per shard, all at once
                batches = {s: [_value(items[i]) for i in group] for s, group in groups.items()}
                positions = {s: [self._position(items[i]) for i in g] for s, g in groups.items()}
                origins = {s: [items[i].origin for i in g] for s, g in groups.items()}
                answers = self.shards.process(batches, positions, read_at, origins)
                for shard, result in answers.items():
                    group = groups[shard]
                    if isinstance(result, BatchResult):
                        self._count(result)
                        refused += [(group[p], reason) for p, reason in result.rejected]
                        for p, customer_id in result.redirected:
                            self._redirect(items, group[p], customer_id, redirects, moved, refused)
                        continue
                    last_error = result
                    self._note_failure(shard, result)
                    if not isinstance(result, OutageError):
                        failures.update(group)
                    failed += group
            for i in solo:
                if failed:  # a customer's later events wait for its earlier ones
                    failed.append(i)
                    continue
                item = items[i]
                shard = self.shards.shard_for(item.actor_id)
                result = self.shards.process(
                    {shard: [_value(item)]},
                    {shard: [self._position(item)]},
                    read_at,
                    {shard: [item.origin]},
                )[shard]
                if isinstance(result, BatchResult):
                    self._count(result)
                    refused += [(i, reason) for _, reason in result.rejected]
                    for _, customer_id in result.redirected:
                        self._redirect(items, i, customer_id, redirects, moved, refused)
                elif isinstance(result, OutageError):
                    last_error = result
                    self._note_failure(shard, result)
                    failed.append(i)
                else:
                    self.stats.errors[type(result).__name__] += 1
                    refused.append((i, f"shard failed on this event: {_describe(result)}"))
            pending = sorted(failed + moved)  # keep each customer's events in offset order
            if not failed:
                continue  # only events sent on: no shard failed, no reason to wait
            if self._stop.is_set():
                raise InterruptedError("ingest stopped with unacknowledged batches")
            if time.monotonic() + backoff > deadline:
                raise IngestRetryExhaustedError(len(pending), _describe(last_error))
            self.stats.shard_retries += 1
            time.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, self.max_backoff_s)
            # The slot table may have changed (a shard lost, slots moved).
            self.shards.refresh(force=True)
        return refused

    def _redirect(
        self,
        items: list[_Item],
        index: int,
        customer_id: str,
        redirects: Counter[int],
        moved: list[int],
        refused: list[tuple[int, str]],
    ) -> None:
        """Send a merged visitor's event on to its customer: once (a customer is never
        merged into another, so a second redirect would be a loop)."""
        redirects[index] += 1
        if redirects[index] > 1:
            refused.append((index, f"redirected twice (last to {customer_id})"))
            return
        item = items[index]
        items[index] = _Item(
            customer_id,
            item.tp,
            item.record._replace(value=redirected(_value(item), customer_id)),
            origin=item.actor_id,
        )
        moved.append(index)
        self.stats.redirected += 1

    def _count(self, result: BatchResult) -> None:
        self.stats.processed += result.processed
        self.stats.duplicates += result.duplicates
        self.stats.suppressed += result.suppressed
        self.stats.actions += result.actions

    def _note_failure(self, shard: int, error: Exception) -> None:
        self.stats.errors[type(error).__name__] += 1
        log.warning("shard %s failed (%s); retrying its batch", shard, _describe(error))

    def _position(self, item: _Item) -> int:
        """Where the record was read, as the customer's dedup keeps it (actors.model.dedup):
        its offset where the broker keeps offsets, else whether it came again."""
        if self.consumer.stable_positions:
            tag = self.consumer.topic_tag(item.tp)
            return pack_position(item.tp.partition, item.record.offset, tag)
        return REDELIVERED if redelivered(item.record) else NO_POSITION

    def _dead_letter(self, tp: Partition, record: Record, reason: str) -> None:
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
            raw, record.key, reason, (tp.topic, tp.partition, record.offset), replay_of(record)
        )
        self.stats.dead_lettered += 1


def _value(item: _Item) -> bytes:
    value = item.record.value
    assert value is not None, "validated: a record without a value is dead-lettered"
    return value


def _describe(error: BaseException | None) -> str:
    return "unknown" if error is None else f"{type(error).__name__}: {error}"
