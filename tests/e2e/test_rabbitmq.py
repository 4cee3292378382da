"""engage on RabbitMQ end to end (`ENGAGE_BROKER=rabbitmq`): events over HTTP to the
events exchange, through ingest to the customer actors, actions out on the actions
exchange; a shard killed mid-stream loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

import pika
import pytest
import ray
from pydantic import SecretStr

from actors.config import RabbitMQConfig
from actors.router import ShardRouter
from engage.rabbitmq_server import RabbitMQ
from serving.config import ApiConfig
from tests.conftest import READ_KEY, WRITE_KEY, App, deploy_test_app
from tests.serving.test_api import valid_event
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]


@pytest.fixture(scope="session")
def rabbitmq_app(ray_local: None, rabbitmq: RabbitMQ, redis_url: str, fast_rules: str) -> App:
    """engage on RabbitMQ, deployed once, without Kafka at all; stopped with the session's
    Ray."""
    prefix = f"rmq{uuid.uuid4().hex[:6]}"
    api = ApiConfig(
        write_keys=(SecretStr(WRITE_KEY),),
        read_keys=(SecretStr(READ_KEY),),
        rate_limit_per_s=2000,
        rate_limit_burst=4000,
    )
    return deploy_test_app(
        prefix,
        redis_url,
        fast_rules,
        api,
        broker="rabbitmq",
        rabbitmq=RabbitMQConfig(
            url=SecretStr(rabbitmq.url),
            events_exchange=f"{prefix}.events",
            events_dlq=f"{prefix}.events.dlq",
            actions_exchange=f"{prefix}.actions",
            actions_dlq=f"{prefix}.actions.dlq",
            events_queues=3,
        ),
    )


def events_of(app: App, customer: str) -> int:
    answer = app.get(f"/v1/customers/{customer}/context")
    return int(answer.json()["session"]["events"]) if answer.status_code == 200 else -1


def wait_counts(app: App, expected: dict[str, int], timeout_s: float = 90) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {c: events_of(app, c) for c in expected}
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def channel(rabbitmq: RabbitMQ) -> Any:
    return pika.BlockingConnection(pika.URLParameters(rabbitmq.url)).channel()


def test_events_sent_over_http_reach_the_customers_through_rabbitmq(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    customers = [f"r-{uuid.uuid4().hex[:6]}" for _ in range(8)]
    for n in range(4):
        body = {"events": [valid_event(c, event_id=f"{c}-{n}") for c in customers]}
        answer = rabbitmq_app.request("POST", "/v1/events", WRITE_KEY, json=body)
        assert answer.status_code == 200, answer.text
    assert wait_counts(rabbitmq_app, dict.fromkeys(customers, 4)) == dict.fromkeys(customers, 4)


def test_an_invalid_event_goes_to_the_dead_letter_queue_with_the_reason(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    names = rabbitmq_app.settings.rabbitmq
    ch = channel(rabbitmq)
    ch.confirm_delivery()
    ch.basic_publish(names.events_exchange, "someone", b'{"type": "purchase"}')
    deadline = time.monotonic() + 30
    while True:
        method, properties, body = ch.basic_get(names.events_dlq, auto_ack=True)
        if method is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert body == b'{"type": "purchase"}'
    assert "event_id" in properties.headers["error-reason"]
    ch.connection.close()


def test_actions_are_published_to_the_actions_exchange(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    """A cart left for 3 seconds (the test rules' reminder for `rem-` customers): the
    reminder reaches a queue bound to the actions exchange by type."""
    names = rabbitmq_app.settings.rabbitmq
    ch = channel(rabbitmq)
    ch.exchange_declare(names.actions_exchange, exchange_type="topic", durable=True)
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, names.actions_exchange, routing_key="cart_reminder.#")
    customer = f"rem-{uuid.uuid4().hex[:6]}"
    cart = event("cart_add", customer=customer, price=42.0, at=time.time())
    body = {"events": [cart.model_dump(mode="json")]}
    assert rabbitmq_app.request("POST", "/v1/events", WRITE_KEY, json=body).status_code == 200
    deadline = time.monotonic() + 60
    while True:
        method, properties, _ = ch.basic_get(queue, auto_ack=True)
        if method is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert method is not None
    assert properties.headers["customer-id"] == customer
    assert properties.message_id  # the idempotency key
    ch.connection.close()


def test_a_shard_killed_mid_stream_loses_and_doubles_nothing(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    """200 events for 20 customers while a shard's process is SIGKILLed: every customer
    ends with exactly its events, as an undisturbed run would (redeliveries of what the
    dead shard had applied are no-ops)."""
    settings = rabbitmq_app.settings
    customers = [f"k-{uuid.uuid4().hex[:6]}" for _ in range(20)]
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    try:
        victim = router.handle(0)
        pid = ray.get(victim.pid.remote())
        for n in range(10):
            body = {"events": [valid_event(c, event_id=f"{c}-{n}") for c in customers]}
            answer = rabbitmq_app.request("POST", "/v1/events", WRITE_KEY, json=body)
            assert answer.status_code == 200, answer.text
            if n == 4:
                os.kill(pid, signal.SIGKILL)
    finally:
        router.close()
    expected = dict.fromkeys(customers, 10)
    assert wait_counts(rabbitmq_app, expected, timeout_s=120) == expected
