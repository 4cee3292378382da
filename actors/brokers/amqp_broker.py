"""RabbitMQ as engage's event broker (actors.brokers.base; docs/rabbitmq.md)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pika
from pika.exceptions import AMQPError

from actors.brokers.amqp import (
    AmqpConsumer,
    address_of,
    declare_dead_letters,
    declare_events,
    events_log,
    parameters,
    read_events_log,
)
from actors.brokers.amqp_dead_letter_log import AmqpDeadLetterLog
from actors.brokers.amqp_feed import AmqpFeedConsumer, declare_feed
from actors.brokers.amqp_publish import (
    AmqpActionDeadLetters,
    AmqpDeadLetters,
    AmqpPublisher,
)
from actors.brokers.amqp_sink import AmqpSink
from actors.brokers.base import Consumer, EventDeadLetters, EventPublisher, OffsetRange
from actors.brokers.dead_letter_log import DeadLetterKind, DeadLetterLog
from actors.catalog.feed import FeedConsumer
from actors.config import RabbitMQConfig
from actors.delivery.letters import DeadLetters
from actors.delivery.sinks.base import Sink
from actors.errors import BrokerUnavailableError, TrainingDataError


class RabbitBroker:
    """Events through the events exchange over ingest's queues, actions on the actions
    exchange (the default sink: whatever `ENGAGE_SINKS_AMQP_URL` says, rules' `sink: amqp`
    is another sink), dead letters on their exchanges."""

    name = "rabbitmq"
    title = "RabbitMQ"

    def __init__(self, config: RabbitMQConfig) -> None:
        self.config = config

    @property
    def address(self) -> str:
        return address_of(self.config.require_url())

    @property
    def address_setting(self) -> str:
        return "ENGAGE_RABBITMQ_URL"

    def environment(self) -> dict[str, str]:
        return {"ENGAGE_RABBITMQ_URL": self.config.require_url()}

    @property
    def client_log_level(self) -> str:
        return "WARNING"

    def prepare(self, timeout_s: float = 30.0) -> list[str]:
        """Declares every exchange, queue and stream engage uses (idempotent: RabbitMQ
        refuses only a declaration that differs from what exists)."""
        config = self.config
        try:
            connection = pika.BlockingConnection(
                parameters(config.require_url(), min(timeout_s, config.timeout_s))
            )
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(self.address, repr(error)) from error
        try:
            channel = connection.channel()
            declare_events(
                channel,
                config.events_exchange,
                config.events_queues,
                config.events_dlq,
                events_log(config),
            )
            declare_dead_letters(channel, config.actions_dlq)
            AmqpSink.declare(
                channel, config.actions_exchange, config.actions_log, config.actions_log_max_age
            )
            AmqpSink.declare(
                channel,
                config.decisions_exchange,
                config.decisions_log,
                config.decisions_log_max_age,
            )
            declare_feed(channel, config.catalog_feed)
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(self.address, repr(error)) from error
        finally:
            with contextlib.suppress(AMQPError, OSError):  # declared, or failed above
                connection.close()
        return [config.events_exchange, config.actions_exchange, config.decisions_exchange]

    def consumer(self) -> Consumer:
        config = self.config
        return AmqpConsumer(
            config.require_url(),
            config.events_exchange,
            config.events_queues,
            config.events_dlq,
            prefetch=config.prefetch,
            timeout_s=config.timeout_s,
            log=events_log(config),
        )

    def event_dead_letters(self) -> EventDeadLetters:
        config = self.config
        return AmqpDeadLetters(config.require_url(), config.events_dlq, config.timeout_s)

    def action_sink(self) -> Sink:
        config = self.config
        return self._sink(config.actions_exchange, config.actions_log, config.actions_log_max_age)

    def action_dead_letters(self) -> DeadLetters:
        config = self.config
        return AmqpActionDeadLetters(config.require_url(), config.actions_dlq, config.timeout_s)

    def dead_letter_log(self, kind: DeadLetterKind) -> DeadLetterLog:
        return AmqpDeadLetterLog(self.config, kind)

    def decision_sink(self) -> Sink:
        config = self.config
        return self._sink(
            config.decisions_exchange, config.decisions_log, config.decisions_log_max_age
        )

    def _sink(self, exchange: str, log: str, max_age: str) -> AmqpSink:
        """Publishes to `exchange`, confirmed, and reads `log` back before a resend."""
        config = self.config
        return AmqpSink(
            config.require_url(),
            exchange=exchange,
            log_stream=log,
            log_max_age=max_age,
            timeout_s=config.timeout_s,
        )

    def catalog_feed(self) -> FeedConsumer:
        config = self.config
        return AmqpFeedConsumer(config.require_url(), config.catalog_feed, config.timeout_s)

    def read_decisions(
        self, start_at: float | None, seen: Callable[[str, bytes], object], idle_timeout_s: float
    ) -> dict[str, Any]:
        """The decisions log stream, up to an end marker published first. Declared first
        (as `prepare` does, idempotent): before the first decision there is nothing to
        read, which is not an outage."""
        self.prepare()
        return self._read_log(self.config.decisions_log, start_at, seen, idle_timeout_s)

    def publisher(self) -> EventPublisher:
        return AmqpPublisher.of(self.config)

    def read_events(
        self,
        start_at: float | None,
        seen: Callable[[str, bytes], object],
        offsets: OffsetRange | None = None,
        idle_timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """The events log stream (`ENGAGE_RABBITMQ_EVENTS_LOG`): every event published, up
        to an end marker published first."""
        if offsets is not None and (offsets.start or offsets.stop):
            raise TrainingDataError("offsets are Kafka's: RabbitMQ's events log reads by time")
        return self._read_log(self.config.events_log, start_at, seen, idle_timeout_s)

    def _read_log(
        self,
        stream: str,
        start_at: float | None,
        seen: Callable[[str, bytes], object],
        idle_timeout_s: float,
    ) -> dict[str, Any]:
        config = self.config
        read = 0

        def counted(raw: bytes) -> None:
            nonlocal read
            if not raw:  # a sink's look-up marker (actors.brokers.amqp_sink): no record
                return
            read += 1
            seen(f"{stream} message {read}", raw)

        # Never later than now: the read ends at a marker published just before it starts.
        begin = None if start_at is None else min(start_at, time.time() - 60.0)
        start = None if begin is None else datetime.fromtimestamp(begin, UTC)
        try:
            read_events_log(config.require_url(), stream, start, counted, idle_timeout_s)
        except (AMQPError, OSError, TimeoutError) as error:
            raise BrokerUnavailableError(self.address, repr(error)) from error
        return {"kind": "rabbitmq", "stream": stream, "read": read}

    def close(self) -> None:
        return None
