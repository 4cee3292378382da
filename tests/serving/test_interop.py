"""Services written with other Kafka clients interoperate: a librdkafka-based client
(confluent-kafka) sends events and reads actions."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from tests.conftest import App
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_a_librdkafka_client_sends_events_and_reads_actions(engage_app: App) -> None:
    kafka = engage_app.kafka
    customer = f"rdk-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    delivered: list[str] = []
    now = time.time() - 60
    for i in range(3):
        e = event("product_view", customer=customer, category="sports", at=now + i)
        producer.produce(
            kafka.events_topic,
            key=customer.encode(),
            value=e.model_dump_json().encode(),
            on_delivery=lambda err, msg: delivered.append("ok" if err is None else str(err)),
        )
    assert producer.flush(30) == 0
    assert delivered == ["ok"] * 3
    del producer  # librdkafka has no close(); dropping it stops its threads
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"rdk-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # The embedded broker joins groups slowly with librdkafka's 45 s default.
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([kafka.actions_topic])
    found = None
    deadline = time.monotonic() + 90
    try:
        while found is None and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            if message.key() == customer.encode():
                found = message
    finally:
        consumer.close()
    assert found is not None, "the offer reached a librdkafka consumer"
    value = found.value()
    assert value is not None
    action = json.loads(value)
    headers = dict(found.headers() or [])
    key = headers["idempotency-key"]
    assert isinstance(key, bytes)
    assert action["type"] == "offer"
    assert action["rule_id"] == "browse_offer"
    assert key.decode() == action["idempotency_key"]
    assert headers["action-type"] == b"offer"
