"""The amqp sink on a real RabbitMQ: confirmed, persistent, routed by type and rule, and
never published twice when a publish ends without an answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from actors.brokers.amqp_sink import AmqpSink
from actors.errors import SinkError
from engage.rabbitmq_server import RabbitMQ
from tests.actors.delivery.test_outbox import make_action

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]


@pytest.fixture
def names(prefix: str) -> dict[str, str]:
    return {"exchange": f"{prefix}.actions", "log_stream": f"{prefix}.actions.log"}


@pytest.fixture
def sink(rabbitmq: RabbitMQ, names: dict[str, str]) -> Iterator[AmqpSink]:
    made = AmqpSink(rabbitmq.url, timeout_s=3.0, scan_timeout_s=20.0, **names)
    yield made
    asyncio.run(made.close())


def channel(rabbitmq: RabbitMQ) -> Any:
    return pika.BlockingConnection(pika.URLParameters(rabbitmq.url)).channel()


def copies_in_stream(rabbitmq: RabbitMQ, stream: str, key: str) -> int:
    """How many messages with this id the actions stream holds (read from its start)."""
    ch = channel(rabbitmq)
    ch.basic_qos(prefetch_count=1000)
    seen: list[str] = []

    def read(c: Any, method: Any, properties: Any, body: bytes) -> None:
        seen.append(properties.message_id)
        c.basic_ack(method.delivery_tag)

    ch.basic_consume(stream, read, arguments={"x-stream-offset": "first"})
    ch.connection.process_data_events(time_limit=2.0)
    ch.connection.close()
    return seen.count(key)


def test_actions_are_confirmed_and_routed_by_type_and_rule(
    sink: AmqpSink, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    wanted = make_action("k1", sink="amqp")
    other_rule = make_action("k2", sink="amqp").model_copy(update={"rule_id": "other"})
    asyncio.run(sink.ready())  # declares the exchange and the stream
    ch = channel(rabbitmq)
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, names["exchange"], routing_key="content_recommendation.r")

    results = asyncio.run(sink.deliver([wanted, other_rule]))

    assert [r.ok for r in results] == [True, True]
    method, properties, body = ch.basic_get(queue, auto_ack=True)
    assert method is not None
    assert properties.message_id == "k1"
    assert properties.delivery_mode == 2  # persistent
    headers = dict(properties.headers)
    # When the sink published it: where a look-up after a crash starts reading.
    assert abs(float(headers.pop("published-at")) - time.time()) < 60
    assert headers == {
        "action-type": "content_recommendation",
        "rule-id": "r",
        "customer-id": "c1",
        "schema-version": wanted.schema_version,
    }
    assert ch.basic_get(queue, auto_ack=True)[0] is None  # the other rule's went elsewhere
    assert json.loads(body)["idempotency_key"] == "k1"


def test_the_stream_tells_which_actions_the_broker_has(sink: AmqpSink) -> None:
    sent, other = make_action("k1", sink="amqp"), make_action("k2", sink="amqp")
    since = time.time()
    asyncio.run(sink.deliver([sent]))
    found = asyncio.run(sink.delivered({sent.idempotency_key, other.idempotency_key}, since))
    assert found == {sent.idempotency_key}


def test_a_look_up_sends_nothing_to_the_actions_subscribers(
    sink: AmqpSink, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """A look-up's end marker goes into the stream only: a queue bound to the actions
    exchange with `#` receives the actions and nothing else."""
    asyncio.run(sink.ready())
    ch = channel(rabbitmq)
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, names["exchange"], routing_key="#")
    sent = make_action("k1", sink="amqp")
    since = time.time()
    asyncio.run(sink.deliver([sent]))

    assert asyncio.run(sink.delivered({"k1", "k2"}, since)) == {"k1"}

    received = []
    while (message := ch.basic_get(queue, auto_ack=True))[0] is not None:
        received.append(message[1].message_id)
    ch.connection.close()
    assert received == ["k1"]


def test_a_publish_without_a_confirm_is_looked_up_before_it_is_sent_again(
    sink: AmqpSink, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """The broker freezes while a publish waits for its confirm: the sink answers that the
    action may have landed, and once the broker is back the look-up the dispatcher makes
    before any resend finds it in the stream: it is not published a second time."""
    action = make_action("k1", sink="amqp")
    asyncio.run(sink.ready())
    since = time.time()
    os.kill(rabbitmq.pid, signal.SIGSTOP)
    # Thawed after the sink has given up on the confirm: pika checks for heartbeats every
    # heartbeat + 5 s (3 + 5 here) and closes a connection silent through one check.
    thaw = threading.Timer(20.0, os.kill, (rabbitmq.pid, signal.SIGCONT))
    thaw.start()
    try:
        (first,) = asyncio.run(sink.deliver([action]))
    finally:
        thaw.join()
    assert (first.ok, first.unsure, first.counts) == (False, True, False)
    deadline = time.monotonic() + 60
    while True:
        try:
            found = asyncio.run(sink.delivered({action.idempotency_key}, since))
            break
        except SinkError:
            assert time.monotonic() < deadline, "the stream never answered"
            time.sleep(0.5)
    assert found == {action.idempotency_key}
    assert copies_in_stream(rabbitmq, names["log_stream"], action.idempotency_key) == 1


def test_a_look_up_holds_back_no_publish(sink: AmqpSink, rabbitmq: RabbitMQ) -> None:
    """A look-up reads the stream on a connection of its own: a publish made while it
    reads is confirmed without waiting for it."""
    asyncio.run(sink.ready())
    started = threading.Event()
    original = sink._scan

    def slow_scan(keys: set[str], since: float) -> set[str]:
        started.set()
        time.sleep(3.0)
        return original(keys, since)

    sink._scan = slow_scan  # type: ignore[method-assign]
    looking = threading.Thread(target=lambda: asyncio.run(sink.delivered({"x"}, time.time())))
    looking.start()
    assert started.wait(10)
    (published,) = asyncio.run(sink.deliver([make_action("during", sink="amqp")]))
    assert published.ok
    assert looking.is_alive()  # the publish did not wait for the look-up
    looking.join()
