"""What the ingest loop asks of an event broker's consumer, in engage's own terms.

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

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol


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

    def highwater(self, partition: Partition) -> int | None:
        """The offset after the partition's last record, if known without a broker call
        that could outlive a deadline; None: unknown."""
        ...

    def close(self) -> None: ...


def redelivered(record: Record) -> bool:
    """Whether a broker without stable positions delivered this record before."""
    return bool(getattr(record, "redelivered", False))
