"""Dead-letter topics: the raw record, unchanged, with the reason in headers.

Keeping the value byte-for-byte lets an operator fix the cause and replay the record into
the main topic as it was; the headers say why it failed and where it came from.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


def _header(value: object) -> bytes:
    return str(value).encode()[:4096]


class KafkaDeadLetters:
    def __init__(self, producer: KafkaProducer, events_topic: str, actions_topic: str) -> None:
        self._producer = producer
        self._events_topic = events_topic
        self._actions_topic = actions_topic

    def event_failed(
        self,
        raw: bytes,
        key: bytes | None,
        reason: str,
        source: tuple[str, int, int] | None = None,
    ) -> None:
        """Queue an invalid event; the caller flushes before it commits offsets."""
        headers = [("error-reason", _header(reason)), ("failed-at", _header(time.time()))]
        if source is not None:
            topic, partition, offset = source
            headers += [
                ("source-topic", _header(topic)),
                ("source-partition", _header(partition)),
                ("source-offset", _header(offset)),
            ]
        self._producer.send(self._events_topic, key=key, value=raw, headers=headers)

    def flush(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout=timeout_s)

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None:
        await asyncio.to_thread(self._action_failed_blocking, raw, reason, sink)

    def _action_failed_blocking(self, raw: bytes, reason: str, sink: str) -> None:
        headers = [
            ("error-reason", _header(reason)),
            ("sink", _header(sink)),
            ("failed-at", _header(time.time())),
        ]
        try:
            self._producer.send(self._actions_topic, value=raw, headers=headers).get(timeout=30)
        except KafkaError:
            # The action stays in the outbox only if we raise; losing the dead letter
            # would lose the action, so let the dispatcher retry the whole batch.
            log.exception("cannot write action dead letter")
            raise
