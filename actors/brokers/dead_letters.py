"""Dead-letter topics: the raw record, unchanged, with the reason in headers.

Keeping the value byte-for-byte lets an operator fix the cause and replay the record into
the main topic as it was; the headers say why it failed and where it came from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from actors.errors import DeadLetterUnavailableError

log = logging.getLogger(__name__)


def _header(value: object) -> bytes:
    return str(value).encode()[:4096]


# A dead letter keeps at most this much of the raw value, so that a record too large for
# the dead-letter topic (the broker's limit is about 1 MiB by default) still lands there,
# cut, with its original size in a header, instead of blocking the loop that sends it.
MAX_DEAD_LETTER_BYTES = 512 * 1024


def _bounded(raw: bytes, headers: list[tuple[str, bytes]]) -> bytes:
    if len(raw) <= MAX_DEAD_LETTER_BYTES:
        return raw
    headers.append(("original-size", _header(len(raw))))
    headers.append(("truncated", b"true"))
    return raw[:MAX_DEAD_LETTER_BYTES]


class KafkaDeadLetters:
    def __init__(self, producer: KafkaProducer, events_topic: str, actions_topic: str) -> None:
        self._producer = producer
        self._events_topic = events_topic
        self._actions_topic = actions_topic
        self._unconfirmed: list[Any] = []

    def event_failed(
        self,
        raw: bytes,
        key: bytes | None,
        reason: str,
        source: tuple[str, int, int] | None = None,
        replay_of: str | None = None,
    ) -> None:
        """Queue an invalid event; the caller flushes before it commits offsets."""
        headers = [("error-reason", _header(reason)), ("failed-at", _header(time.time()))]
        if replay_of is not None:
            headers.append(("replay-of", _header(replay_of)))
        if source is not None:
            topic, partition, offset = source
            headers += [
                ("source-topic", _header(topic)),
                ("source-partition", _header(partition)),
                ("source-offset", _header(offset)),
            ]
        value = _bounded(raw, headers)
        try:
            future = self._producer.send(
                self._events_topic, key=key[:1024] if key else key, value=value, headers=headers
            )
        except KafkaError as error:
            raise DeadLetterUnavailableError(self._events_topic, repr(error)) from error
        self._unconfirmed.append(future)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued dead letter is on the topic; raises when one is not,
        so that ingest does not commit past an event whose dead letter was lost."""
        futures, self._unconfirmed = self._unconfirmed, []
        try:
            self._producer.flush(timeout=timeout_s)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as error:
            raise DeadLetterUnavailableError(self._events_topic, repr(error)) from error

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None:
        await asyncio.to_thread(self._action_failed_blocking, raw, reason, sink)

    def _action_failed_blocking(self, raw: bytes, reason: str, sink: str) -> None:
        headers = [
            ("error-reason", _header(reason)),
            ("sink", _header(sink)),
            ("failed-at", _header(time.time())),
        ]
        value = _bounded(raw, headers)
        try:
            self._producer.send(self._actions_topic, value=value, headers=headers).get(timeout=30)
        except KafkaError as error:
            # The action stays in the outbox only if we raise; losing the dead letter
            # would lose the action, so let the dispatcher retry the whole batch.
            raise DeadLetterUnavailableError(self._actions_topic, repr(error)) from error
