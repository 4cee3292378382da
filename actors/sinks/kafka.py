"""The default sink: actions as JSON records on `engage.actions`, keyed by customer id.

Headers carry what consumers filter on without parsing the body: the idempotency key
(consumers of an at-least-once stream dedup on it), the action type and the rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from actors.actions import Action, action_to_json
from actors.sinks.base import Delivery


def action_headers(action: Action) -> list[tuple[str, bytes]]:
    return [
        ("idempotency-key", action.idempotency_key.encode()),
        ("action-type", action.type.encode()),
        ("rule-id", action.rule_id.encode()),
        ("schema-version", str(action.schema_version).encode()),
    ]


class KafkaSink:
    name = "kafka"

    def __init__(self, producer: KafkaProducer, topic: str, timeout_s: float = 30.0) -> None:
        self._producer = producer
        self._topic = topic
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

    async def close(self) -> None:
        return None
