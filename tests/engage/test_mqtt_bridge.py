"""`engage mqtt-bridge` between a real MQTT broker (RabbitMQ's MQTT plugin) and a real
Kafka-protocol broker: a device's events land on the events topic keyed by their customer,
in order, those published while the bridge was down included (its session keeps them
until Kafka has them). What ingest does with them is ingest's (tests/actors/test_ingest*)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from actors.brokers.kafka import ensure_topics
from actors.brokers.kafka_reader import read_records
from actors.config import KafkaConfig
from actors.model.events import event_to_json
from engage.mqtt_bridge import Counts, MqttAddress, bridge, customer_of_topic
from engage.rabbitmq_server import RabbitMQ
from tests.eventually import eventually
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.rabbitmq]


def test_the_customer_is_the_topic_s_last_level() -> None:
    assert customer_of_topic("engage/events/c-1042") == "c-1042"


def test_an_address_that_is_not_mqtt_is_refused_by_name() -> None:
    assert MqttAddress.parse("mqtt://guest:pw@127.0.0.1:1884") == MqttAddress(
        "127.0.0.1", 1884, "guest", "pw"
    )
    with pytest.raises(Exception, match="mqtt://"):
        MqttAddress.parse("http://127.0.0.1:1883")


@contextmanager
def running(kafka: KafkaConfig, rabbitmq: RabbitMQ, topic: str, client_id: str) -> Iterator[Counts]:
    stop, counts = threading.Event(), Counts()
    address = MqttAddress("127.0.0.1", rabbitmq.mqtt_port, "guest", "guest")
    thread = threading.Thread(
        target=bridge, args=(kafka, address, topic, client_id, stop, counts), daemon=True
    )
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(timeout=30)


def publish(rabbitmq: RabbitMQ, topic: str, payloads: list[bytes]) -> None:
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"device-{uuid.uuid4().hex}")
    device.username_pw_set("guest", "guest")
    device.connect("127.0.0.1", rabbitmq.mqtt_port)
    device.loop_start()
    try:
        for payload in payloads:
            device.publish(topic, payload, qos=1).wait_for_publish(30)
    finally:
        device.loop_stop()
        device.disconnect()


def views(customer: str, products: list[str]) -> list[bytes]:
    now = time.time()
    return [
        event_to_json(
            event("product_view", customer=customer, at=now + n, product_id=p, event_id=p)
        )
        for n, p in enumerate(products)
    ]


def test_a_device_s_events_reach_kafka_in_order_even_while_the_bridge_was_down(
    kafka_config: KafkaConfig, rabbitmq: RabbitMQ
) -> None:
    ensure_topics(kafka_config)
    run = uuid.uuid4().hex[:6]
    customer, prefix, client_id = f"dev-{run}", f"devices-{run}", f"bridge-{run}"
    topic = f"{prefix}/{customer}"
    sent = views(customer, [f"{run}-a", f"{run}-b", f"{run}-c"])

    with running(kafka_config, rabbitmq, f"{prefix}/+", client_id) as counts:
        assert counts.subscribed.wait(30), "the bridge subscribed"
        publish(rabbitmq, topic, sent[:2])
        eventually(lambda: counts.forwarded == 2, 60, "two events forwarded", 0.2)
    # Published while no bridge runs: the broker keeps them for the bridge's session.
    publish(rabbitmq, topic, sent[2:])
    with running(kafka_config, rabbitmq, f"{prefix}/+", client_id) as counts:
        eventually(lambda: counts.forwarded == 1, 60, "the kept event forwarded", 0.2)
    records = list(
        read_records(kafka_config, kafka_config.events_topic, None, None, None, 30.0, {})
    )
    assert [(r.key, r.value) for r in records] == [(customer.encode(), v) for v in sent]
