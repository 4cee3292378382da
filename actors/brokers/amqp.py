"""Events from RabbitMQ, for the same ingest loop and checkpoint order as Kafka.

Topology (`declare_events`): producers publish each event to `engage.events`, a
consistent-hash exchange, with the customer's actor id as the routing key; it spreads
customers over `queues` durable queues `engage.events.<i>`, each customer always to the
same one. Every queue is single-active-consumer: however many ingest replicas consume,
one at a time reads a queue, so a customer's events are applied in publish order. Invalid
events go to the `engage.events.dlq` exchange (fanout) and its queue, the raw payload as
the body and the reason in the `error-reason` header.

`AmqpConsumer` gives the ingest loop (actors.ingest) what it asks of a Kafka consumer:
each queue is a "partition", each delivery gets an increasing "offset", `commit` acks
every delivery of a queue before the committed offset (only after every shard saved
them: the checkpoint order), and `seek` (a rewind after a failure) gives back with
`basic.nack(requeue)` every delivery from there on, which RabbitMQ redelivers in order.
A consumer that dies unacked has its deliveries requeued by the broker; the customers'
applied-event ids make a redelivery a no-op.

Offsets start at the consumer's start time in tenths of milliseconds, so a restarted
consumer's offsets follow its predecessor's (the applied-id bookkeeping keeps ids by
where they were read).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from actors.brokers.amqp_mqtt import MQTT_EXCHANGE, customer_of, routing_pattern
from actors.brokers.base import Partition
from actors.config import RabbitMQConfig
from actors.errors import BrokerUnavailableError


class AmqpRecord(NamedTuple):
    """A delivery as the ingest loop reads a record (actors.brokers.base.Record)."""

    offset: int
    key: bytes | None
    value: bytes | None
    tag: int  # the channel's delivery tag
    # RabbitMQ delivered it before (to a consumer that died, or that gave it back).
    redelivered: bool = False
    # The dead letter it replays (its `replay-of` header; engage.dlq).
    replay_of: str | None = None


def queue_names(exchange: str, queues: int) -> list[str]:
    return [f"{exchange}.{i}" for i in range(queues)]


# A message that only marks where a reader of a stream stopped reading; readers skip them.
MARKER_TYPE = "engage.marker"


@dataclass(frozen=True)
class EventsLog:
    """The stream that keeps every event published, for training and export
    (`ENGAGE_RABBITMQ_EVENTS_LOG`, kept `ENGAGE_RABBITMQ_EVENTS_LOG_MAX_AGE`)."""

    stream: str
    max_age: str = "7D"


def declare_events(
    channel: BlockingChannel, exchange: str, queues: int, dlq: str, log: EventsLog | None = None
) -> None:
    """The events exchange and what it feeds, and the dead-letter exchange and queue
    (idempotent; the same arguments every time, or RabbitMQ refuses the declaration).

    Publishers send to `exchange` (fanout), which feeds `<exchange>.hash`, the
    consistent-hash exchange over the ingest queues, and the events log stream if any: one
    publish, both copies."""
    hashed = f"{exchange}.hash"
    channel.exchange_declare(exchange, exchange_type="fanout", durable=True)
    channel.exchange_declare(hashed, exchange_type="x-consistent-hash", durable=True)
    channel.exchange_bind(hashed, exchange)
    # Devices' events over MQTT (actors.brokers.amqp_mqtt).
    channel.exchange_bind(exchange, MQTT_EXCHANGE, routing_key=routing_pattern(exchange))
    for queue in queue_names(exchange, queues):
        channel.queue_declare(queue, durable=True, arguments={"x-single-active-consumer": True})
        channel.queue_bind(queue, hashed, routing_key="1")  # equal weights
    if log is not None:
        channel.queue_declare(
            log.stream,
            durable=True,
            arguments={"x-queue-type": "stream", "x-max-age": log.max_age},
        )
        channel.queue_bind(log.stream, exchange)
    declare_dead_letters(channel, dlq)


def events_log(rabbitmq: RabbitMQConfig) -> EventsLog:
    return EventsLog(rabbitmq.events_log, rabbitmq.events_log_max_age)


def read_stream_to(
    connection: pika.BlockingConnection,
    stream: str,
    start: datetime | str,
    marker: str,
    seen: Callable[[Any, bytes], None],
    timeout_s: float,
    idle: bool = False,
) -> None:
    """The stream's messages from `start` (a publish time, or "first") to `seen`
    (properties, body), up to the message whose id is `marker`, which the caller published
    first: so the read ends where the stream stood, however busy or quiet it is. Raises
    TimeoutError past `timeout_s` in all, or with `idle` past `timeout_s` without a
    message; AMQPError when the broker fails."""
    reader = connection.channel()
    reader.basic_qos(prefetch_count=1000)
    done = False
    last = time.monotonic()

    def deliver(ch: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        nonlocal done, last
        if idle:
            last = time.monotonic()
        if properties.message_id == marker:
            done = True
        else:
            seen(properties, body)
        ch.basic_ack(method.delivery_tag)  # a stream's acks are credit, not deletion

    tag = reader.basic_consume(stream, deliver, arguments={"x-stream-offset": start})
    try:
        while not done:
            if time.monotonic() - last > timeout_s:
                raise TimeoutError(f"read of {stream} timed out after {timeout_s}s")
            connection.process_data_events(time_limit=0.5)
    finally:
        if reader.is_open:
            reader.basic_cancel(tag)
            reader.close()


def read_events_log(
    url: str,
    log: str,
    start: datetime | None,
    seen: Callable[[bytes], None],
    idle_timeout_s: float = 60.0,
) -> None:
    """Every event of the log stream from publish time `start` (or its first), to `seen`,
    up to an end marker published first. Raises AMQPError, or TimeoutError when nothing
    arrives for `idle_timeout_s`."""
    connection = pika.BlockingConnection(parameters(url, 10.0))
    try:
        marker = f"marker-{uuid.uuid4().hex}"
        connection.channel().basic_publish(
            "", log, b"", pika.BasicProperties(message_id=marker, type=MARKER_TYPE)
        )

        def event(properties: Any, body: bytes) -> None:
            if properties.type != MARKER_TYPE:  # another read's end marker
                seen(body)

        offset = start if start is not None else "first"
        read_stream_to(connection, log, offset, marker, event, idle_timeout_s, idle=True)
    finally:
        if connection.is_open:
            connection.close()


def declare_dead_letters(channel: BlockingChannel, name: str) -> None:
    """A fanout exchange and the queue of the same name it fills."""
    channel.exchange_declare(name, exchange_type="fanout", durable=True)
    channel.queue_declare(name, durable=True)
    channel.queue_bind(name, name)


def parameters(url: str, timeout_s: float) -> pika.URLParameters:
    """Connection parameters with every wait bounded (see actors.brokers.amqp_sink)."""
    params = pika.URLParameters(url)
    params.socket_timeout = timeout_s
    params.blocked_connection_timeout = timeout_s
    params.connection_attempts = 1
    params.heartbeat = max(2, int(timeout_s))
    return params


def address_of(url: str) -> str:
    """A RabbitMQ URL without its credentials, for messages."""
    return url.split("@")[-1]


class ConfirmedChannel:
    """A channel in publisher-confirm mode on a connection of its own, opened on first use
    with what it publishes to declared, and opened afresh after `reset` (an error) or
    after an idle heartbeat: a blocking connection left unused that long may have been
    closed by the broker for missed heartbeats without pika knowing, and a fresh one costs
    a handshake where a dead one costs an ambiguous publish. Not thread-safe: callers
    that share one across threads hold a lock around every use."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        declare: Callable[[BlockingChannel], None] | None = None,
    ) -> None:
        self._parameters = parameters(url, timeout_s)
        self._idle_s = float(self._parameters.heartbeat)
        self._declare = declare
        self._channel: BlockingChannel | None = None
        self._used_at = 0.0

    def get(self) -> BlockingChannel:
        idle = time.monotonic() - self._used_at
        self._used_at = time.monotonic()
        if self._channel is not None and self._channel.is_open and idle < self._idle_s:
            return self._channel
        self.reset()
        channel = pika.BlockingConnection(self._parameters).channel()
        if self._declare is not None:
            self._declare(channel)
        channel.confirm_delivery()
        self._channel = channel
        return channel

    def reset(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and channel.connection.is_open:
            with contextlib.suppress(AMQPError, OSError):  # already broken: dropped anyway
                channel.connection.close()


def publish_dead_letter(
    channel: BlockingChannel, exchange: str, raw: bytes, headers: dict[str, Any]
) -> None:
    channel.basic_publish(
        exchange,
        "",
        raw,
        pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            # What `engage dlq` names the dead letter by (a queue has no offsets).
            message_id=uuid.uuid4().hex,
            headers=headers,
        ),
    )


class AmqpConsumer:
    """The events queues as the ingest loop reads a consumer (actors.brokers.base): each
    queue a partition, each delivery numbered in order as its offset, acked when the loop
    commits past it and given back (`basic.nack`, requeue) when the loop rewinds. The
    numbers are this consumer's own (`stable_positions` is false): a record that comes
    again has a new one and RabbitMQ's `redelivered` flag.

    A connection RabbitMQ drops (a restart, missed heartbeats) is opened again by the next
    poll: the broker has requeued everything this consumer held unacked, so what it held is
    forgotten and comes again in order (the loop fails the poll that was cut short, and
    redelivered events it had applied are no-ops)."""

    def __init__(
        self,
        url: str,
        exchange: str = "engage.events",
        queues: int = 4,
        dlq: str = "engage.events.dlq",
        prefetch: int = 2000,
        timeout_s: float = 10.0,
        log: EventsLog | None = None,
    ) -> None:
        self._url, self._exchange, self._dlq, self._log = url, exchange, dlq, log
        self._prefetch, self._timeout_s = prefetch, timeout_s
        self._partitions = [Partition(exchange, i) for i in range(queues)]
        self._queues = dict(zip(self._partitions, queue_names(exchange, queues), strict=True))
        self._waiting: dict[Partition, deque[AmqpRecord]] = {}
        self._polled: dict[Partition, list[AmqpRecord]] = {}
        # Offsets number each queue's deliveries in order, from a start no earlier
        # replica's offsets reach (the loop only compares offsets of one replica), and keep
        # growing across reconnections.
        start = int(time.time() * 10_000)
        self._next = dict.fromkeys(self._partitions, start)
        self.reconnections = 0
        self.stable_positions = False
        self._open()

    def _open(self) -> None:
        """Connect, declare, and consume every queue; raises BrokerUnavailableError."""
        self._channels: dict[Partition, BlockingChannel] = {}
        self._stats: BlockingChannel | None = None
        for tp in self._partitions:
            self._waiting[tp] = deque()
            self._polled[tp] = []
        try:
            self._connection = pika.BlockingConnection(parameters(self._url, self._timeout_s))
            setup = self._connection.channel()
            declare_events(setup, self._exchange, len(self._partitions), self._dlq, self._log)
            setup.close()
            for tp, queue in self._queues.items():
                channel = self._connection.channel()
                channel.basic_qos(prefetch_count=self._prefetch)
                channel.basic_consume(queue, self._receiver(tp))
                self._channels[tp] = channel
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(self._url), repr(error)) from error

    def _reopen_if_lost(self) -> None:
        if self._connection.is_open:
            return
        self._open()
        self.reconnections += 1

    def _receiver(self, tp: Partition) -> Any:
        def receive(channel: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
            headers = properties.headers or {}
            key = headers.get("customer-id") or customer_of(method.routing_key, self._exchange)
            replayed = headers.get("replay-of")
            self._waiting[tp].append(
                AmqpRecord(
                    self._next[tp],
                    key.encode() if key else None,
                    body,
                    method.delivery_tag,
                    bool(method.redelivered),
                    str(replayed) if replayed else None,
                )
            )
            self._next[tp] += 1

        return receive

    def poll(self, timeout_ms: int, max_records: int) -> dict[Partition, list[AmqpRecord]]:
        self._reopen_if_lost()
        if not any(self._waiting.values()):
            self._connection.process_data_events(time_limit=timeout_ms / 1000)
        out: dict[Partition, list[AmqpRecord]] = {}
        room = max_records
        for tp in self._partitions:
            waiting = self._waiting[tp]
            taken = [waiting.popleft() for _ in range(min(room, len(waiting)))]
            if taken:
                out[tp] = taken
                self._polled[tp] += taken
                room -= len(taken)
        return out

    def commit(self, offsets: Mapping[Partition, int], timeout_ms: int | None = None) -> None:
        """Ack every delivery of each queue before its committed offset."""
        for tp, offset in offsets.items():
            done = [r for r in self._polled[tp] if r.offset < offset]
            if done:
                self._channels[tp].basic_ack(done[-1].tag, multiple=True)
                self._polled[tp] = [r for r in self._polled[tp] if r.offset >= offset]

    def seek(self, tp: Partition, offset: int) -> None:
        """Give back every delivery of the queue from `offset` on, polled or not yet:
        RabbitMQ puts them back in order, to be delivered again."""
        outstanding = [r for r in self._polled[tp] if r.offset >= offset] + list(self._waiting[tp])
        if outstanding:
            last = max(r.tag for r in outstanding)
            try:
                self._channels[tp].basic_nack(last, multiple=True, requeue=True)
            except (AMQPError, OSError):
                # The connection is gone: RabbitMQ requeues all it had delivered on it, in
                # order. Dropped here so the next poll opens a new one.
                self._drop()
        self._polled[tp] = [r for r in self._polled[tp] if r.offset < offset]
        self._waiting[tp].clear()

    def assignment(self) -> set[Partition]:
        return set(self._partitions)

    def topic_tag(self, partition: Partition) -> int:
        return 0  # queues keep no offsets: judged by ids (`stable_positions` is false)

    def highwater(self, tp: Partition) -> int | None:
        """The offset the queue's last event would have once delivered: the next offset
        plus what the queue still holds ready, so the loop's lag (this less its committed
        offset) counts both what this replica holds unacked and what waits in RabbitMQ.
        Asks the broker (a passive declare, on a channel of its own; the loop asks every
        few seconds); None, unknown, when it does not answer."""
        try:
            if self._stats is None or not self._stats.is_open:
                self._stats = self._connection.channel()
            ready = self._stats.queue_declare(self._queues[tp], passive=True).method.message_count
            # Deliveries that came before the answer are buffered, not yet numbered: number
            # them now, or they would be counted neither as held nor as ready.
            self._connection.process_data_events(time_limit=0)
        except (AMQPError, OSError):
            return None  # unknown for now; a lost connection is opened again by the next poll
        return self._next[tp] + int(ready)

    def _drop(self) -> None:
        with contextlib.suppress(AMQPError, OSError):  # broken already: closed either way
            if self._connection.is_open:
                self._connection.close()

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()
