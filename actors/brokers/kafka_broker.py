"""Kafka (any Kafka-protocol broker) as engage's event broker (actors.brokers.base)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer

from actors.brokers.base import Consumer, EventDeadLetters, EventPublisher, OffsetRange
from actors.brokers.dead_letter_log import DeadLetterKind, DeadLetterLog
from actors.brokers.dead_letters import KafkaDeadLetters
from actors.brokers.kafka import (
    KafkaEventPublisher,
    KafkaEventsConsumer,
    ensure_topics,
    make_producer,
)
from actors.brokers.kafka_dead_letter_log import KafkaDeadLetterLog
from actors.brokers.kafka_feed import KafkaFeedConsumer
from actors.brokers.kafka_reader import read_topic
from actors.brokers.kafka_sink import KafkaSink
from actors.catalog.feed import FeedConsumer
from actors.config import KafkaConfig
from actors.delivery.letters import DeadLetters
from actors.delivery.sinks.base import Sink


class KafkaBroker:
    """Events on `engage.events`, actions on `engage.actions`, decisions on
    `engage.decisions`, dead letters on their `.dlq` topics. The default sink, the
    decision log and the dead letters of one process share one producer, made on first
    use and never shipped with the broker to another process."""

    name = "kafka"
    title = "Kafka"

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._producer: KafkaProducer | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "_producer": None}

    @property
    def address(self) -> str:
        return self.config.require_bootstrap()

    @property
    def address_setting(self) -> str:
        return "ENGAGE_KAFKA_BOOTSTRAP"

    def environment(self) -> dict[str, str]:
        return {"ENGAGE_KAFKA_BOOTSTRAP": self.config.require_bootstrap()}

    @property
    def client_log_level(self) -> str:
        return self.config.log_level

    def prepare(self, timeout_s: float = 30.0) -> list[str]:
        return ensure_topics(self.config, timeout_s)

    def consumer(self) -> Consumer:
        return KafkaEventsConsumer(self.config)

    def event_dead_letters(self) -> EventDeadLetters:
        return self._dead_letters()

    def action_sink(self) -> Sink:
        return KafkaSink(self._shared_producer(), self.config.actions_topic, self.config)

    def action_dead_letters(self) -> DeadLetters:
        return self._dead_letters()

    def dead_letter_log(self, kind: DeadLetterKind) -> DeadLetterLog:
        return KafkaDeadLetterLog(self.config, kind)

    def decision_sink(self) -> Sink:
        return KafkaSink(self._shared_producer(), self.config.decisions_topic, self.config)

    def catalog_feed(self) -> FeedConsumer:
        return KafkaFeedConsumer(self.config)

    def read_decisions(
        self, start_at: float | None, seen: Callable[[str, bytes], object], idle_timeout_s: float
    ) -> dict[str, Any]:
        return self._read(self.config.decisions_topic, start_at, seen, None, idle_timeout_s)

    def publisher(self) -> EventPublisher:
        return KafkaEventPublisher(self.config)

    def read_events(
        self,
        start_at: float | None,
        seen: Callable[[str, bytes], object],
        offsets: OffsetRange | None = None,
        idle_timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        return self._read(self.config.events_topic, start_at, seen, offsets, idle_timeout_s)

    def _read(
        self,
        topic: str,
        start_at: float | None,
        seen: Callable[[str, bytes], object],
        offsets: OffsetRange | None,
        idle_timeout_s: float,
    ) -> dict[str, Any]:
        seek_ms = None if start_at is None else int(start_at * 1000)
        bounds = offsets or OffsetRange()
        span: dict[str, Any] = {}
        for partition, offset, raw in read_topic(
            self.config,
            topic,
            seek_ms,
            dict(bounds.start) if bounds.start else None,
            dict(bounds.stop) if bounds.stop else None,
            idle_timeout_s,
            span,
        ):
            seen(f"{topic}[{partition}]@{offset}", raw)
        return {"kind": "kafka", "bootstrap": self.address, "topic": topic, "offsets": span}

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    def _dead_letters(self) -> KafkaDeadLetters:
        return KafkaDeadLetters(
            self._shared_producer(), self.config.events_dlq_topic, self.config.actions_dlq_topic
        )

    def _shared_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self.config)
        return self._producer
