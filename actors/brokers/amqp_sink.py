"""Actions to RabbitMQ: JSON messages on a topic exchange, with publisher confirms.

Each action is published persistent to `engage.actions` with the routing key
`<action type>.<rule id>` (consumers bind what they handle: `fraud_alert.#`), the
idempotency key as the message id and the fields consumers filter on as headers. The
exchange also feeds a stream, `engage.actions.log`, kept `log_max_age`: the sink reads it
to tell whether an action whose publish ended ambiguously (a connection lost before the
confirm) reached the broker, so it is not published twice (the effectively-once check
the Kafka sink makes on its topic). Consumers may read the stream too, from any point.

pika's blocking connection is not thread-safe: publishing and looking up each have a
connection and a lock of their own, used in worker threads (the dispatcher's loop never
blocks on the broker), so a look-up reading the stream holds back no publish.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError, NackError, UnroutableError

from actors.brokers.amqp import MARKER_TYPE, ConfirmedChannel, read_stream_to
from actors.delivery.sinks.base import Delivery
from actors.errors import SinkError
from actors.model.actions import Action, action_to_json

# Messages are stamped when published, a moment after delivery began.
LOOK_BACK_S = 5.0


class AmqpSink:
    name = "amqp"

    def __init__(
        self,
        url: str,
        exchange: str = "engage.actions",
        log_stream: str = "engage.actions.log",
        log_max_age: str = "7D",
        timeout_s: float = 10.0,
        scan_timeout_s: float = 60.0,
    ) -> None:
        # Every wait bounded (actors.brokers.amqp.parameters): a frozen broker is noticed
        # by missed heartbeats, which pika checks every heartbeat + 5 s, closing a
        # connection that received nothing since the last check, so a publish waiting
        # for its confirm ends within 2 * (heartbeat + 5 s), never hangs.
        self._link = ConfirmedChannel(url, timeout_s, self._declare)
        self._scan_link = ConfirmedChannel(url, timeout_s, self._declare)
        self._exchange = exchange
        self._stream = log_stream
        self._max_age = log_max_age
        self._scan_timeout_s = scan_timeout_s
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()

    async def ready(self) -> None:
        """Connect and declare the exchange and the stream (a misconfigured broker fails
        here, at start, rather than at the first action)."""
        await asyncio.to_thread(self._locked_open)

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return await asyncio.to_thread(self._deliver_blocking, actions)

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        if not keys:
            return set()
        return await asyncio.to_thread(self._locked_scan, keys, since)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # ---- in worker threads -------------------------------------------------------------

    def _deliver_blocking(self, actions: Sequence[Action]) -> list[Delivery]:
        with self._lock:
            return [self._publish(a) for a in actions]

    def _publish(self, action: Action) -> Delivery:
        sent_at = time.time()
        try:
            channel = self._link.get()
        except (AMQPError, OSError) as error:
            self._link.reset()
            return Delivery.waiting(f"amqp: cannot connect: {error!r}")
        try:
            channel.basic_publish(
                self._exchange,
                f"{action.type}.{action.rule_id}",
                action_to_json(action),
                pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=action.idempotency_key,
                    timestamp=int(sent_at),
                    headers={
                        "action-type": action.type,
                        "rule-id": action.rule_id,
                        "customer-id": action.customer_id,
                        "schema-version": action.schema_version,
                        # The AMQP timestamp has whole seconds: consumers that measure
                        # how long an action took read this one.
                        "published-at": repr(sent_at),
                    },
                ),
                mandatory=True,
            )
        except (NackError, UnroutableError) as error:
            # The broker answered: it did not take the message. Trying again may work.
            return Delivery.failed(f"amqp: refused by the broker: {error!r}")
        except (AMQPError, OSError) as error:
            # No answer: it may have been stored. The dispatcher looks in the stream
            # before it sends the action again.
            self._link.reset()
            return Delivery.maybe(f"amqp: no confirm ({error!r}); looked up before a resend")
        return Delivery.delivered()

    def _locked_scan(self, keys: set[str], since: float) -> set[str]:
        with self._scan_lock:
            try:
                return self._scan(keys, since)
            except (AMQPError, OSError) as error:
                self._scan_link.reset()
                raise SinkError(self.name, f"cannot read {self._stream}: {error!r}") from error

    def _scan(self, keys: set[str], since: float) -> set[str]:
        """Which of `keys` the stream holds, reading from a little before `since` up to an
        end marker published first (so the read ends where the stream stood, however
        quiet it is), within `scan_timeout_s`."""
        channel = self._scan_link.get()
        marker = f"marker-{uuid.uuid4().hex}"
        # Straight into the stream by the default exchange: a consumer bound to the
        # actions exchange (even with `#`) never receives a marker.
        channel.basic_publish(
            "",
            self._stream,
            b"",
            pika.BasicProperties(
                message_id=marker, type=MARKER_TYPE, headers={"action-type": "marker"}
            ),
            mandatory=True,
        )
        found: set[str] = set()

        def seen(properties: Any, body: bytes) -> None:
            if properties.message_id in keys:
                found.add(properties.message_id)

        start = datetime.fromtimestamp(since - LOOK_BACK_S, UTC)
        try:
            read_stream_to(
                channel.connection, self._stream, start, marker, seen, self._scan_timeout_s
            )
        except TimeoutError:
            raise SinkError(self.name, f"read of {self._stream} timed out") from None
        return found

    def _locked_open(self) -> None:
        with self._lock:
            self._link.get()

    def _declare(self, channel: BlockingChannel) -> None:
        self.declare(channel, self._exchange, self._stream, self._max_age)

    @staticmethod
    def declare(channel: BlockingChannel, exchange: str, stream: str, max_age: str) -> None:
        """The actions exchange and the stream that keeps what it took."""
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(
            stream, durable=True, arguments={"x-queue-type": "stream", "x-max-age": max_age}
        )
        channel.queue_bind(stream, exchange, routing_key="#")

    def _close(self) -> None:
        with self._lock:
            self._link.reset()
        with self._scan_lock:
            self._scan_link.reset()
