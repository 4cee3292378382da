"""The default sink: actions as JSON records on `engage.actions`, keyed by customer id.

Headers carry what consumers filter on without parsing the body: the idempotency key
(consumers of an at-least-once stream dedup on it), the action type and the rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError
from kafka.structs import TopicPartition

from actors.actions import Action, action_to_json
from actors.config import KafkaConfig
from actors.errors import SinkError
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
        scan_timeout_s: float = 60.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._config = config
        self._timeout_s = timeout_s
        self._scan_timeout_s = scan_timeout_s

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return await asyncio.to_thread(self._deliver_blocking, actions)

    def _deliver_blocking(self, actions: Sequence[Action]) -> list[Delivery]:
        results: list[Delivery | None] = [None] * len(actions)
        futures: list[tuple[int, Any]] = []
        for i, action in enumerate(actions):
            try:
                futures.append(
                    (
                        i,
                        self._producer.send(
                            self._topic,
                            key=action.customer_id.encode(),
                            value=action_to_json(action),
                            headers=action_headers(action),
                        ),
                    )
                )
            except MessageSizeTooLargeError as error:  # this action's own fault
                results[i] = Delivery.failed(f"kafka: {error}", retryable=False)
            except KafkaError as error:
                results[i] = Delivery.failed(f"kafka: {error}", retryable=True)
        with contextlib.suppress(KafkaError):  # each future below tells its own result
            self._producer.flush(timeout=self._timeout_s)
        for i, future in futures:
            try:
                future.get(timeout=0)
                results[i] = Delivery.delivered()
            except MessageSizeTooLargeError as error:
                results[i] = Delivery.failed(f"kafka: {error}", retryable=False)
            except KafkaError as error:
                results[i] = Delivery.failed(f"kafka: {error}", retryable=True)
        return [r if r is not None else Delivery.failed("not attempted") for r in results]

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        if not keys or self._config is None:
            return set()
        return await asyncio.to_thread(self._scan, keys, since)

    def _scan(self, keys: set[str], since: float) -> set[str]:
        """Read the topic from a little before `since` up to where it stood when the scan
        began, and collect the wanted keys.

        Bounded twice: a partition is done once a record stamped after the scan began is
        read, or once its end offset taken at the start is reached and a poll brings
        nothing more for it (some Kafka-compatible brokers report end offsets below what
        they hold, so the end offset alone is not trusted); and the whole scan gives up
        after `scan_timeout_s` with `SinkError`, so the dispatcher asks again later
        instead of sending blind.
        """
        assert self._config is not None
        started = time.time()
        deadline = time.monotonic() + self._scan_timeout_s
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
                starts = consumer.offsets_for_times(
                    {tp: start_ms for tp in partitions}, timeout_ms=10_000
                )
            except KafkaError:
                starts = {}  # a broker without timestamp lookup: read from the start
            ends = consumer.end_offsets(partitions, timeout_ms=10_000)
            for tp in partitions:
                offset = starts.get(tp)
                if offset is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset.offset)
            open_parts = set(partitions)
            started_ms = int(started * 1000)
            while open_parts:
                if time.monotonic() > deadline:
                    raise SinkError(self.name, "scan of the actions topic timed out")
                batch = consumer.poll(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        key = dict(record.headers or ()).get("idempotency-key")
                        if key is not None and key.decode() in keys:
                            found.add(key.decode())
                        if record.timestamp >= started_ms:
                            open_parts.discard(tp)
                for tp in list(open_parts):
                    if tp not in batch and consumer.position(tp) >= ends.get(tp, 0):
                        open_parts.discard(tp)
                if found >= keys:
                    break
            return found
        except KafkaError as error:
            raise SinkError(self.name, f"cannot read the actions topic: {error!r}") from error
        finally:
            consumer.close()

    async def close(self) -> None:
        return None
