"""Publishing to RabbitMQ: events to the events exchange, and dead letters of events and
of actions, each confirmed by the broker before the caller goes on (an unconfirmed
publish raises, so nothing is acked or cleared past it)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from actors.brokers.amqp import (
    ConfirmedChannel,
    EventsLog,
    address_of,
    declare_dead_letters,
    declare_events,
    events_log,
    publish_dead_letter,
)
from actors.config import RabbitMQConfig
from actors.errors import BrokerUnavailableError, DeadLetterUnavailableError


class AmqpDeadLetters:
    """Invalid events to the dead-letter exchange, confirmed before ingest acks them."""

    def __init__(self, url: str, dlq: str = "engage.events.dlq", timeout_s: float = 10.0) -> None:
        self._dlq = dlq
        self._pending: list[tuple[bytes, dict[str, Any]]] = []
        self._link = ConfirmedChannel(url, timeout_s)

    def event_failed(
        self,
        raw: bytes,
        key: bytes | None,
        reason: str,
        source: tuple[str, int, int] | None,
        replay_of: str | None = None,
    ) -> None:
        headers: dict[str, Any] = {"error-reason": reason[:1000], "failed-at": repr(time.time())}
        if replay_of is not None:
            headers["replay-of"] = replay_of
        if key:
            headers["customer-id"] = key[:1024].decode(errors="replace")
        if source is not None:
            headers["source-queue"] = f"{source[0]}.{source[1]}"
        self._pending.append((raw, headers))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Publish every queued dead letter with a confirm each; raises when one is not
        confirmed, so that ingest does not ack past an event whose dead letter was lost."""
        pending, self._pending = self._pending, []
        try:
            channel = self._link.get()
            for raw, headers in pending:
                publish_dead_letter(channel, self._dlq, raw, headers)
        except (AMQPError, OSError) as error:
            self._pending = pending + self._pending
            self._link.reset()
            raise DeadLetterUnavailableError(self._dlq, repr(error)) from error


def publish_events(
    channel: BlockingChannel,
    exchange: str,
    events: Sequence[tuple[str, bytes]],
    headers: dict[str, str] | None = None,
) -> None:
    """Publish (actor id, event JSON) pairs, persistent and confirmed, routed by actor id;
    `headers` besides the actor id's, on each."""
    for actor_id, body in events:
        channel.basic_publish(
            exchange,
            actor_id,
            body,
            pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                headers={**(headers or {}), "customer-id": actor_id},
            ),
        )


class AmqpPublisher:
    """Events to the events exchange, each confirmed (the API answers `accepted` only
    once RabbitMQ has them). pika is not thread-safe: one lock around every use."""

    def __init__(
        self,
        url: str,
        exchange: str,
        queues: int,
        dlq: str,
        timeout_s: float,
        log: EventsLog | None = None,
    ) -> None:
        self._exchange = exchange
        self._address = address_of(url)
        self._lock = threading.Lock()
        self._link = ConfirmedChannel(
            url, timeout_s, lambda channel: declare_events(channel, exchange, queues, dlq, log)
        )

    @classmethod
    def of(cls, rabbitmq: RabbitMQConfig) -> AmqpPublisher:
        """The publisher to the events exchange `rabbitmq` names."""
        return cls(
            rabbitmq.require_url(),
            rabbitmq.events_exchange,
            rabbitmq.events_queues,
            rabbitmq.events_dlq,
            rabbitmq.timeout_s,
            events_log(rabbitmq),
        )

    def publish(self, events: Sequence[tuple[str, bytes]], timeout_s: float = 10.0) -> None:
        """Raises BrokerUnavailableError when any event is not confirmed (the API answers
        503). Bounded by the connection's own timeouts (`parameters`)."""
        if not events:
            return
        with self._lock:
            try:
                publish_events(self._link.get(), self._exchange, events)
            except (AMQPError, OSError) as error:
                self._link.reset()
                raise BrokerUnavailableError(self._address, repr(error)) from error

    def close(self) -> None:
        with self._lock:
            self._link.reset()


class AmqpActionDeadLetters:
    """Actions that cannot be delivered, to the actions dead-letter exchange (fanout, with
    its queue) with the reason in headers; raises when RabbitMQ does not confirm, so the
    action stays in the outbox (the Kafka dead letters do the same)."""

    def __init__(self, url: str, exchange: str, timeout_s: float) -> None:
        self._exchange = exchange
        self._lock = threading.Lock()
        self._link = ConfirmedChannel(
            url, timeout_s, lambda channel: declare_dead_letters(channel, exchange)
        )

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None:
        await asyncio.to_thread(self._publish, raw, reason, sink)

    def _publish(self, raw: bytes, reason: str, sink: str) -> None:
        headers = {"error-reason": reason[:1000], "sink": sink, "failed-at": repr(time.time())}
        with self._lock:
            try:
                publish_dead_letter(self._link.get(), self._exchange, raw, headers)
            except (AMQPError, OSError) as error:
                self._link.reset()
                raise DeadLetterUnavailableError(self._exchange, repr(error)) from error
