"""The default sink: actions as JSON records on `engage.actions`, keyed by customer id.

Headers carry what consumers filter on without parsing the body: the idempotency key
(consumers of an at-least-once stream dedup on it), the action type and the rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from actors.actions import Action, action_to_json
from actors.config import KafkaConfig
from actors.kafka_io import make_consumer
from actors.sinks.base import Delivery

# Records are timestamped by the producer when sent, a moment after delivery began.
LOOK_BACK_S = 5.0


def action_headers(action: Action) -> list[tuple[str, bytes]]:
    return [
        ("idempotency-key", action.idempotency_key.encode()),
        ("action-type", action.type.encode()),
        ("rule-id", action.rule_id.encode()),
        ("schema-version", str(action.schema_version).encode()),
    ]


class KafkaSink:
    name = "kafka"

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        config: KafkaConfig | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._config = config
        self._timeout_s = timeout_s

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return await asyncio.to_thread(self._deliver_blocking, actions)

    def _deliver_blocking(self, actions: Sequence[Action]) -> list[Delivery]:
        futures = [
            self._producer.send(
                self._topic,
                key=action.customer_id.encode(),
                value=action_to_json(action),
                headers=action_headers(action),
            )
            for action in actions
        ]
        self._producer.flush(timeout=self._timeout_s)
        results = []
        for future in futures:
            try:
                future.get(timeout=0)
                results.append(Delivery.delivered())
            except KafkaError as error:
                results.append(Delivery.failed(f"kafka: {error}", retryable=True))
        return results

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        if not keys or self._config is None:
            return set()
        return await asyncio.to_thread(self._scan, keys, since)

    def _scan(self, keys: set[str], since: float) -> set[str]:
        """Read the topic from a little before `since` and collect the wanted keys."""
        assert self._config is not None
        consumer = make_consumer(self._config, group_id=None, enable_auto_commit=False)
        found: set[str] = set()
        try:
            partitions = [
                TopicPartition(self._topic, p)
                for p in sorted(consumer.partitions_for_topic(self._topic) or ())
            ]
            if not partitions:
                return found
            consumer.assign(partitions)
            start_ms = int((since - LOOK_BACK_S) * 1000)
            try:
                starts = consumer.offsets_for_times({tp: start_ms for tp in partitions})
            except KafkaError:
                starts = {}  # a broker without timestamp lookup: read from the start
            for tp in partitions:
                offset = starts.get(tp)
                if offset is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset.offset)
            # Until a poll comes back empty: some Kafka-compatible brokers report end
            # offsets below what they hold.
            while True:
                batch = consumer.poll(timeout_ms=1000, max_records=5000)
                if not batch:
                    break
                for records in batch.values():
                    for record in records:
                        key = dict(record.headers or ()).get("idempotency-key")
                        if key is not None and key.decode() in keys:
                            found.add(key.decode())
            return found
        finally:
            consumer.close()

    async def close(self) -> None:
        return None
