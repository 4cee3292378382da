"""The RabbitMQ side of `bench/throughput.py --broker rabbitmq`: the load generator, the
bare consume loop engage is compared with, and the listener on the actions exchange.

All pika, as engage is. The load is published without confirms on a channel of its own
(a confirm per message would make the generator, not engage, the limit); each batch ends
with a round trip on that channel, which RabbitMQ answers only after the publishes before
it, so a flushed backlog is in the queues.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pika

from actors.brokers.amqp import declare_events, queue_names
from actors.brokers.amqp_publish import publish_events


class AmqpLoad:
    def __init__(self, url: str, exchange: str, queues: int, dlq: str) -> None:
        self._exchange, self._first_queue = exchange, queue_names(exchange, queues)[0]
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        declare_events(self._channel, exchange, queues, dlq)

    def send(self, key: bytes, value: bytes) -> None:
        publish_events(self._channel, self._exchange, [(key.decode(), value)])

    def flush(self) -> None:
        self._channel.queue_declare(self._first_queue, passive=True)

    def close(self) -> None:
        self._connection.close()


def bare_rate(url: str, records: list[tuple[bytes, bytes]], queues: int, prefetch: int) -> float:
    """Records/s of a plain pika consume loop over the same records, routed the same way
    onto queues of their own, with engage's prefetch and manual acks (one multiple ack per
    half a prefetch), from the first delivery to the last."""
    exchange = f"bench.bare.{time.time_ns()}"
    load = AmqpLoad(url, exchange, queues, f"{exchange}.dlq")
    for key, value in records:
        load.send(key, value)
    load.flush()
    load.close()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    read = 0
    started: float | None = None
    unacked = 0

    def delivered(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        nonlocal read, started, unacked
        if started is None:
            started = time.perf_counter()
        read += 1
        unacked += 1
        if unacked >= max(1, prefetch // 2) or read == len(records):
            ch.basic_ack(method.delivery_tag, multiple=True)
            unacked = 0

    for queue in queue_names(exchange, queues):
        channel.basic_consume(queue, delivered)
    deadline = time.monotonic() + 300
    while read < len(records) and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.5)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    for queue in queue_names(exchange, queues):
        channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    channel.exchange_delete(f"{exchange}.hash")
    channel.queue_delete(f"{exchange}.dlq")
    channel.exchange_delete(f"{exchange}.dlq")
    connection.close()
    if read < len(records):
        raise RuntimeError(f"the bare loop read {read} of {len(records)} records")
    return read / elapsed


def listen_actions(
    url: str, exchange: str, stop: threading.Event, seen: Callable[[dict[str, Any]], None]
) -> threading.Thread:
    """Every action published to the actions exchange, to `seen`, until `stop`."""
    ready = threading.Event()

    def run() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, exchange, routing_key="#")

        def delivered(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            seen(json.loads(body))

        channel.basic_consume(queue, delivered, auto_ack=True)
        ready.set()
        while not stop.is_set():
            connection.process_data_events(time_limit=0.1)
        connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(30)
    return thread
