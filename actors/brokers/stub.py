"""An in-memory event broker for unit tests (as dramatiq's StubBroker): the same
`Broker` seam as Kafka's and RabbitMQ's, nothing on the network.

Records published go to partitions by a hash of their actor id (so one actor's records
stay in order in one partition); one consumer group reads them with Kafka's contract
(tests/actors/brokers/test_consumer_contract.py runs the same tests on the stub and on a
real broker): `poll` moves the position past what it returns, `seek` moves it back, and
`commit` records how far the group is done. Tests reach into it to script a broker:
`fail_commits`, `append`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from actors.brokers.base import Consumer, EventDeadLetters, EventPublisher, OffsetRange, Partition
from actors.brokers.dead_letter_log import KINDS, DeadLetter, DeadLetterKind
from actors.catalog.feed import FeedConsumer, FeedRecord
from actors.delivery.letters import MemoryDeadLetters
from actors.delivery.sinks.base import Delivery, Sink
from actors.errors import BrokerUnavailableError
from actors.model.actions import Action, DecisionAction
from actors.model.decision import decision_to_json


class StubRecord(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class StubTopic:
    name: str
    partitions: int = 4
    records: dict[int, list[StubRecord]] = field(default_factory=dict)

    def append(self, key: bytes | None, value: bytes | None, partition: int | None = None) -> int:
        """Add a record (to the partition of its key unless one is given); its partition."""
        if partition is None:
            partition = zlib.crc32(key or b"") % self.partitions
        held = self.records.setdefault(partition, [])
        held.append(StubRecord(len(held), key, value))
        return partition


class StubConsumer:
    """One member of the group: every partition assigned to it."""

    stable_positions = True

    def __init__(self, topic: StubTopic, committed: dict[int, int]) -> None:
        self.topic = topic
        self.committed = committed
        self.positions = {p: committed.get(p, 0) for p in range(topic.partitions)}
        self.commits: list[dict[Partition, int]] = []
        self.fail_commits = 0
        self.closed = False

    def _partition(self, number: int) -> Partition:
        return Partition(self.topic.name, number)

    def poll(self, timeout_ms: int, max_records: int) -> Mapping[Partition, Sequence[StubRecord]]:
        out: dict[Partition, list[StubRecord]] = {}
        room = max_records
        for number in range(self.topic.partitions):
            held = self.topic.records.get(number, [])
            taken = held[self.positions[number] : self.positions[number] + room]
            if taken:
                out[self._partition(number)] = taken
                self.positions[number] += len(taken)
                room -= len(taken)
        return out

    def commit(self, offsets: Mapping[Partition, int], timeout_ms: int) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise BrokerUnavailableError("stub", "the group is rebalancing")
        for partition, offset in offsets.items():
            self.committed[partition.partition] = offset
        self.commits.append(dict(offsets))

    def seek(self, partition: Partition, offset: int) -> None:
        self.positions[partition.partition] = offset

    def assignment(self) -> set[Partition]:
        return {self._partition(n) for n in range(self.topic.partitions)}

    def topic_tag(self, partition: Partition) -> int:
        return 1

    def highwater(self, partition: Partition) -> int | None:
        return len(self.topic.records.get(partition.partition, []))

    def close(self) -> None:
        self.closed = True


class _Publisher:
    def __init__(self, topic: StubTopic) -> None:
        self.topic = topic
        self.down: str | None = None

    def publish(self, events: Sequence[tuple[str, bytes]], timeout_s: float = 10.0) -> None:
        if self.down is not None:
            raise BrokerUnavailableError("stub", self.down)
        for actor, body in events:
            self.topic.append(actor.encode(), body)

    def close(self) -> None:
        return None


class _EventLetters:
    def __init__(self) -> None:
        self.queued: list[tuple[bytes, bytes | None, str]] = []
        self.letters: list[tuple[bytes, bytes | None, str]] = []

    def event_failed(
        self,
        raw: bytes,
        key: bytes | None,
        reason: str,
        source: tuple[str, int, int] | None,
        replay_of: str | None = None,
    ) -> None:
        self.queued.append((raw, key, reason))

    def flush(self, timeout_s: float = 30.0) -> None:
        self.letters += self.queued
        self.queued = []


class StubSink:
    """The default sink: actions kept in order, each delivered."""

    name = "stub"

    def __init__(self) -> None:
        self.actions: list[Action] = []

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        self.actions += actions
        return [Delivery.delivered() for _ in actions]

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        return keys & {a.idempotency_key for a in self.actions}

    async def close(self) -> None:
        return None


class StubFeed:
    """A catalogue feed written by a test: records come in order, once committed gone."""

    def __init__(self) -> None:
        self.records: list[FeedRecord] = []
        self.polled = 0
        self.down: str | None = None

    def poll(self, timeout_s: float) -> list[FeedRecord]:
        if self.down:
            raise BrokerUnavailableError("stub", self.down)
        self.polled = len(self.records)
        return list(self.records)

    def commit(self) -> None:
        del self.records[: self.polled]
        self.polled = 0

    def close(self) -> None:
        self.polled = 0


class StubDeadLetterLog:
    """Dead letters kept in a list; a replayed event goes onto the stub's events topic."""

    def __init__(self, kind: DeadLetterKind, events: StubTopic) -> None:
        self.kind: DeadLetterKind = kind
        self.letters: list[DeadLetter] = []
        self._events = events
        self.down: str | None = None

    @property
    def where(self) -> str:
        return f"stub.{self.kind}.dlq"

    def read(self, limit: int, timeout_s: float = 30.0) -> list[DeadLetter]:
        if self.down is not None:
            raise BrokerUnavailableError("stub", self.down)
        return self.letters[:limit]

    def republish_event(self, letter: DeadLetter, timeout_s: float = 10.0) -> None:
        if self.down is not None:
            raise BrokerUnavailableError("stub", self.down)
        self._events.append(letter.key, letter.value)


class StubBroker:
    name = "stub"
    title = "Stub"

    def __init__(self, partitions: int = 4) -> None:
        self.events = StubTopic("events", partitions)
        self.committed: dict[int, int] = {}
        self.sink = StubSink()
        self.decisions = StubSink()
        self.feed = StubFeed()
        self.event_letters = _EventLetters()
        self.action_letters = MemoryDeadLetters()
        self.publishing = _Publisher(self.events)
        self.letter_logs = {kind: StubDeadLetterLog(kind, self.events) for kind in KINDS}

    @property
    def address(self) -> str:
        return "stub"

    @property
    def address_setting(self) -> str:
        return "ENGAGE_BROKER"

    def environment(self) -> dict[str, str]:
        return {}

    @property
    def client_log_level(self) -> str:
        return "WARNING"

    def prepare(self, timeout_s: float = 30.0) -> list[str]:
        return []

    def consumer(self) -> Consumer:
        return StubConsumer(self.events, self.committed)

    def event_dead_letters(self) -> EventDeadLetters:
        return self.event_letters

    def action_sink(self) -> Sink:
        return self.sink

    def action_dead_letters(self) -> MemoryDeadLetters:
        return self.action_letters

    def dead_letter_log(self, kind: DeadLetterKind) -> StubDeadLetterLog:
        return self.letter_logs[kind]

    def decision_sink(self) -> Sink:
        return self.decisions

    def catalog_feed(self) -> FeedConsumer:
        return self.feed

    def read_decisions(
        self, start_at: float | None, seen: Callable[[str, bytes], object], idle_timeout_s: float
    ) -> dict[str, Any]:
        for number, action in enumerate(self.decisions.actions):
            if isinstance(action, DecisionAction):
                seen(f"decisions@{number}", decision_to_json(action.decision))
        return {"kind": "stub"}

    def publisher(self) -> EventPublisher:
        return self.publishing

    def read_events(
        self,
        start_at: float | None,
        seen: Callable[[str, bytes], object],
        offsets: OffsetRange | None = None,
        idle_timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        for number in range(self.events.partitions):
            for record in self.events.records.get(number, []):
                if record.value is not None:
                    seen(f"events[{number}]@{record.offset}", record.value)
        return {"kind": "stub"}

    def close(self) -> None:
        return None
