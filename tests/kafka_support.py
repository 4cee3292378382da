"""Reading and writing topics in integration tests, with kafka-python like any client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from actors.config import KafkaConfig
from actors.model.events import Event, event_to_json


def produce(
    kafka: KafkaConfig,
    events: Sequence[Event | bytes],
    key: str | None = None,
    timestamp_ms: int | None = None,
) -> None:
    """Send to the events topic; `timestamp_ms` stamps every record (a producer's clock)."""
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=2)
    try:
        for item in events:
            if isinstance(item, bytes):
                producer.send(
                    kafka.events_topic,
                    key=(key or "x").encode(),
                    value=item,
                    timestamp_ms=timestamp_ms,
                )
            else:
                producer.send(
                    kafka.events_topic,
                    key=item.actor_id.encode(),
                    value=event_to_json(item),
                    timestamp_ms=timestamp_ms,
                )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


class TopicReader:
    """Reads every partition of a topic from the start, without a consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = self.consumer.partitions_for_topic(topic) or {0}
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self.records: list[Any] = []

    def read_until(self, done: Callable[[list[Any]], bool], timeout_s: float = 60.0) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met; read {len(self.records)} records")
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
        return self.records

    def read_until_quiet(self, quiet_s: float = 3.0, timeout_s: float = 120.0) -> list[Any]:
        """Read until nothing new arrives for `quiet_s` (end offsets are not trusted: some
        Kafka-compatible brokers report them below what they hold)."""
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() - last_new < quiet_s:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic never went quiet; read {len(self.records)} records")
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
                last_new = time.monotonic()
        return self.records

    def values(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.records]

    def close(self) -> None:
        self.consumer.close()
