"""Producing accepted events to engage.events (Kafka, or RabbitMQ's events exchange),
acknowledged only once the broker has them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError
from pika.exceptions import AMQPError

from actors.brokers.amqp import AmqpPublisher
from actors.brokers.kafka import make_producer
from actors.config import KafkaConfig, RabbitMQConfig
from actors.errors import EngageError
from actors.model.events import Event, event_to_json


class PublishError(EngageError):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class EventPublisher:
    def __init__(self, kafka: KafkaConfig) -> None:
        self._kafka = kafka
        self._producer: KafkaProducer | None = None

    def _get(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self._kafka)
        return self._producer

    async def publish(self, events: Sequence[Event], timeout_s: float = 10.0) -> None:
        """Send and wait for the broker's acks (acks=all). Raises PublishError."""
        if events:
            await asyncio.to_thread(self._publish_blocking, events, timeout_s)

    def _publish_blocking(self, events: Sequence[Event], timeout_s: float) -> None:
        producer = self._get()
        try:
            futures = [
                producer.send(
                    self._kafka.events_topic,
                    key=event.actor_id.encode(),
                    value=event_to_json(event),
                )
                for event in events
            ]
            producer.flush(timeout=timeout_s)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as error:
            raise PublishError(str(error)) from error

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class AmqpEventPublisher:
    """The API's events to RabbitMQ (`ENGAGE_BROKER=rabbitmq`), routed by actor id and
    confirmed before the answer says accepted."""

    def __init__(self, rabbitmq: RabbitMQConfig) -> None:
        self._publisher = AmqpPublisher.of(rabbitmq)

    async def publish(self, events: Sequence[Event], timeout_s: float = 10.0) -> None:
        if events:
            pairs = [(event.actor_id, event_to_json(event)) for event in events]
            try:
                await asyncio.to_thread(self._publisher.publish, pairs)
            except (AMQPError, OSError) as error:
                raise PublishError(f"rabbitmq: {error!r}") from error

    def close(self) -> None:
        self._publisher.close()
