"""The event broker, in engage's own terms: one seam, one implementation per broker.

`Broker` is what every part of engage asks of the broker it runs on: the consumer ingest
reads, the dead letters of events and of actions, the default action sink, the publisher
of events (the HTTP API, `engage send`, `engage simulate`) and the preparation of topics
or exchanges. actors.brokers.kafka_broker.KafkaBroker and
actors.brokers.amqp_broker.RabbitBroker implement it; `broker_of`
(actors.brokers.select) is the one place that reads which broker is configured, called
once at each entry point. Nothing else asks which broker is in use. A broker is plain
configuration until asked for a client, so it travels to Ray actors as an argument.

`Consumer` is implemented once per broker (actors.brokers.kafka.KafkaEventsConsumer,
actors.brokers.amqp.AmqpConsumer); the loop (actors.ingest) never asks which broker it
reads. Tests script one by hand with the same shape.

The loop's contract with a consumer:

- `poll` hands out records of each partition in order, and moves the consumer's position
  past them;
- `commit` says every record of a partition before `offset` is done (applied and saved by
  the shards): the broker may forget them;
- `seek` moves a partition's position back to `offset`: the records from there come again,
  in order (the rewind after a failed poll);
- `stable_positions` says whether a record keeps its offset when it comes again (Kafka:
  yes, so a replay is told by its position; RabbitMQ: no, each delivery is numbered anew,
  and a record that comes again says so with `redelivered`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from actors.brokers.dead_letter_log import REPLAY_OF, DeadLetterKind, DeadLetterLog
from actors.catalog.feed import FeedConsumer
from actors.delivery.letters import DeadLetters
from actors.delivery.sinks.base import Sink


class Partition(NamedTuple):
    """One ordered stream of a broker: a Kafka topic partition, a RabbitMQ queue."""

    topic: str
    partition: int


class Record(Protocol):
    """A record as the loop reads it (kafka-python's ConsumerRecord has these fields)."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    def _replace(self, *, value: bytes) -> Record: ...


class Consumer(Protocol):
    stable_positions: bool

    def poll(self, timeout_ms: int, max_records: int) -> Mapping[Partition, Sequence[Record]]: ...

    def commit(self, offsets: Mapping[Partition, int], timeout_ms: int) -> None:
        """Every record before `offsets[p]` of each partition is done; raises when the
        broker does not take the commit within `timeout_ms`."""
        ...

    def seek(self, partition: Partition, offset: int) -> None: ...

    def assignment(self) -> set[Partition]: ...

    def topic_tag(self, partition: Partition) -> int:
        """Which incarnation of the topic the partition's offsets belong to (a 32-bit tag
        of Kafka's topic id), 0 when the broker cannot say. A topic deleted and created
        again restarts its offsets under another tag."""
        ...

    def highwater(self, partition: Partition) -> int | None:
        """The offset after the partition's last record, if known without a broker call
        that could outlive a deadline; None: unknown."""
        ...

    def close(self) -> None: ...


class EventDeadLetters(Protocol):
    """Where ingest puts an event it cannot apply, with the raw payload and the reason."""

    def event_failed(
        self,
        raw: bytes,
        key: bytes | None,
        reason: str,
        source: tuple[str, int, int] | None,
        replay_of: str | None = None,
    ) -> None:
        """Queue a dead letter; `flush` writes it. `replay_of`: the dead letter the
        record was a replay of (engage.dlq), carried on so the new one names it."""
        ...

    def flush(self, timeout_s: float = 30.0) -> None:
        """Every queued dead letter on the broker; raises OutageError when one is not (so
        ingest does not commit past an event whose dead letter was lost)."""
        ...


class EventPublisher(Protocol):
    """Events onto the broker, routed by actor id so one actor's events stay in order."""

    def publish(self, events: Sequence[tuple[str, bytes]], timeout_s: float = 10.0) -> None:
        """(actor id, event JSON) pairs, all on the broker when this returns; raises
        BrokerUnavailableError when any is not."""
        ...

    def close(self) -> None: ...


class OffsetRange(NamedTuple):
    """Where a read of the events starts and stops, per partition (Kafka's offsets)."""

    start: Mapping[int, int] | None = None
    stop: Mapping[int, int] | None = None


class Broker(Protocol):
    # How settings and messages name it ("kafka", "rabbitmq"; "Kafka", "RabbitMQ"), where
    # it is (no secret), and the ENGAGE_* setting that says so.
    name: str
    title: str

    @property
    def address(self) -> str: ...

    @property
    def address_setting(self) -> str: ...

    def environment(self) -> dict[str, str]:
        """The ENGAGE_* variables that let another process reach this broker (its
        credentials included: for a local run's own discovery file)."""
        ...

    @property
    def client_log_level(self) -> str:
        """The level of the broker client's own logs (actors.logs)."""
        ...

    def prepare(self, timeout_s: float = 30.0) -> list[str]:
        """Create the topics or exchanges engage uses, if missing; the ones created."""
        ...

    def consumer(self) -> Consumer:
        """The events as ingest reads them, in ingest's group (a replica each)."""
        ...

    def event_dead_letters(self) -> EventDeadLetters: ...

    def action_sink(self) -> Sink:
        """The default sink (rules' `sink: kafka`): the broker's actions topic or exchange."""
        ...

    def action_dead_letters(self) -> DeadLetters: ...

    def dead_letter_log(self, kind: DeadLetterKind) -> DeadLetterLog:
        """The events or actions dead letters as `engage dlq` reads and replays them."""
        ...

    def decision_sink(self) -> Sink:
        """The decision log (`engage.decisions`): where each offer decision's record goes,
        through the outbox like an action (actors.turn.decision_log)."""
        ...

    def catalog_feed(self) -> FeedConsumer:
        """The catalogue feed (actors.catalog.feed), as one follower reads it."""
        ...

    def read_decisions(
        self, start_at: float | None, seen: Callable[[str, bytes], object], idle_timeout_s: float
    ) -> dict[str, Any]:
        """Every decision record the broker keeps from `start_at` (None: the first) up to
        where the log stood when the read began, each to `seen(where, raw)`; returns what
        was read. Raises BrokerUnavailableError when the broker stops answering."""
        ...

    def publisher(self) -> EventPublisher: ...

    def read_events(
        self,
        start_at: float | None,
        seen: Callable[[str, bytes], object],
        offsets: OffsetRange | None = None,
        idle_timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        """Every event the broker keeps, from `start_at` in the broker's own time (None:
        the first it keeps) up to where it stood when the read began, each to
        `seen(where, raw)`; returns what was read, for provenance. Raises
        BrokerUnavailableError when the broker stops answering: never fewer records in
        silence. `offsets` (Kafka only) bounds the read by partition offsets."""
        ...

    def close(self) -> None:
        """Close the clients this broker made for its process (a shared producer)."""
        ...


def replay_of(record: Record) -> str | None:
    """The dead letter a record replays (its `replay-of` header), if it is a replay."""
    carried = getattr(record, "replay_of", None)  # a RabbitMQ record reads it on arrival
    if carried:
        return str(carried)
    for name, value in getattr(record, "headers", None) or ():  # a Kafka record's
        if name == REPLAY_OF:
            return bytes(value).decode(errors="replace")
    return None


def redelivered(record: Record) -> bool:
    """Whether a broker without stable positions delivered this record before."""
    return bool(getattr(record, "redelivered", False))
