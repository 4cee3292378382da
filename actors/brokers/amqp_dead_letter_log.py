"""RabbitMQ's dead-letter queues read back and replayed (actors.brokers.dead_letter_log).

A classic queue has no offsets and no read that leaves messages in place, so the queue
is browsed: every message taken without an ack, then the channel closed, which puts them
all back where they were. A dead letter is named by its message id (set when it is
dead-lettered); one from before ids were set is named by a digest of its body and when it
failed, which is as stable as the message.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import pika
from pika.exceptions import AMQPError

from actors.brokers.amqp import ConfirmedChannel, address_of, declare_dead_letters, parameters
from actors.brokers.amqp_publish import publish_events
from actors.brokers.dead_letter_log import REPLAY_OF, DeadLetter, DeadLetterKind
from actors.config import RabbitMQConfig
from actors.errors import BrokerUnavailableError


def letter_id(properties: Any, body: bytes) -> str:
    if properties.message_id:
        return str(properties.message_id)
    failed_at = str((properties.headers or {}).get("failed-at", ""))
    return hashlib.sha256(body + b"\0" + failed_at.encode()).hexdigest()[:32]


class AmqpDeadLetterLog:
    """The `engage.events.dlq` or `engage.actions.dlq` queue, browsed in place."""

    def __init__(self, config: RabbitMQConfig, kind: DeadLetterKind) -> None:
        self.kind: DeadLetterKind = kind
        self._config = config
        self._queue = config.events_dlq if kind == "events" else config.actions_dlq

    @property
    def where(self) -> str:
        return self._queue

    def read(self, limit: int, timeout_s: float = 30.0) -> list[DeadLetter]:
        url = self._config.require_url()
        letters: list[DeadLetter] = []
        try:
            connection = pika.BlockingConnection(parameters(url, timeout_s))
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(url), repr(error)) from error
        try:
            channel = connection.channel()
            declare_dead_letters(channel, self._queue)
            while len(letters) < limit:
                method, properties, body = channel.basic_get(self._queue, auto_ack=False)
                if method is None:
                    break
                headers = {str(k): _text(v) for k, v in (properties.headers or {}).items()}
                letters.append(
                    DeadLetter(
                        kind=self.kind,
                        id=letter_id(properties, body),
                        value=body,
                        key=headers["customer-id"].encode() if "customer-id" in headers else None,
                        headers=headers,
                        stored_at=float(properties.timestamp) if properties.timestamp else None,
                    )
                )
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(url), repr(error)) from error
        finally:
            # Closing without acks puts every browsed message back on the queue.
            with contextlib.suppress(AMQPError, OSError):
                connection.close()
        return letters

    def republish_event(self, letter: DeadLetter, timeout_s: float = 10.0) -> None:
        config = self._config
        link = ConfirmedChannel(config.require_url(), timeout_s)
        actor = letter.customer or ""
        try:
            publish_events(
                link.get(),
                config.events_exchange,
                [(actor, letter.value)],
                headers={REPLAY_OF: f"{self._queue}/{letter.id}"},
            )
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(config.require_url()), repr(error)) from error
        finally:
            link.reset()


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
