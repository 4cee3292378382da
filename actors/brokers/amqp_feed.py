"""The catalogue feed on RabbitMQ (actors.catalog.feed): publish each offer to the
`engage.catalog` exchange (fanout) with the offer id as `message_id` and the offer's JSON
as the body, or an empty body to retire it. The `engage.catalog` queue it fills has a
single active consumer, so one follower at a time applies the feed, in order; its
deliveries are acknowledged only once applied."""

from __future__ import annotations

import time
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from actors.brokers.amqp import address_of, parameters
from actors.catalog.feed import FeedRecord
from actors.errors import BrokerUnavailableError

PREFETCH = 500


def declare_feed(channel: BlockingChannel, name: str) -> None:
    channel.exchange_declare(name, exchange_type="fanout", durable=True)
    channel.queue_declare(name, durable=True, arguments={"x-single-active-consumer": True})
    channel.queue_bind(name, name)


class AmqpFeedConsumer:
    def __init__(self, url: str, name: str, timeout_s: float) -> None:
        self._url = url
        try:
            self._connection = pika.BlockingConnection(parameters(url, timeout_s))
            self._channel = self._connection.channel()
            declare_feed(self._channel, name)
            self._channel.basic_qos(prefetch_count=PREFETCH)
            self._channel.basic_consume(name, self._delivered)
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(url), repr(error)) from error
        self._name = name
        self._arrived: list[tuple[int, FeedRecord]] = []
        self._last_tag: int | None = None

    def _delivered(self, _: Any, method: Any, properties: Any, body: bytes) -> None:
        key = properties.message_id.encode() if properties.message_id else None
        where = f"{self._name} delivery {method.delivery_tag}"
        self._arrived.append((method.delivery_tag, FeedRecord(key, body or None, where)))

    def poll(self, timeout_s: float) -> list[FeedRecord]:
        deadline = time.monotonic() + timeout_s
        try:
            while not self._arrived and time.monotonic() < deadline:
                self._connection.process_data_events(time_limit=deadline - time.monotonic())
            # What else is already here comes in the same batch.
            self._connection.process_data_events(time_limit=0)
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(self._url), repr(error)) from error
        arrived, self._arrived = self._arrived, []
        if arrived:
            self._last_tag = arrived[-1][0]
        return [record for _, record in arrived]

    def commit(self) -> None:
        if self._last_tag is None:
            return
        try:
            self._channel.basic_ack(self._last_tag, multiple=True)
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(address_of(self._url), repr(error)) from error
        self._last_tag = None

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()
