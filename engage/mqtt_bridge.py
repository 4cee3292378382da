"""`engage mqtt-bridge`: devices' events from an MQTT broker onto Kafka's `engage.events`.

On RabbitMQ, devices publish straight into engage (actors.brokers.amqp_mqtt). On Kafka,
which speaks no MQTT, this bridge subscribes to the devices' topic (`engage/events/+`, the
last level the customer id) on any MQTT 3.1.1 broker and produces each message to the
events topic, keyed by that customer, so ingest validates, dead-letters and orders it as
any producer's event.

Nothing is lost between the two: the subscription is QoS 1 in a persistent session (a
fixed client id, `clean_session` off), and a message is acknowledged to the MQTT broker
only once Kafka has acknowledged it (acks=all). A bridge that dies, or a Kafka that does
not answer, leaves the message unacknowledged, and the MQTT broker delivers it again; a
copy that reached Kafka twice is recognised by the customer actor by its event id.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from kafka.errors import KafkaError

from actors.brokers.kafka import make_producer
from actors.config import KafkaConfig
from actors.errors import BrokerUnavailableError, ConfigError
from engage.settings import Settings

log = logging.getLogger(__name__)

# How long a Kafka send may take before the bridge stops (the message stays unacked).
SEND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class MqttAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttAddress:
        parsed = urlparse(url)
        if parsed.scheme != "mqtt" or not parsed.hostname:
            raise ConfigError("--mqtt", f"{url!r} is not mqtt://[user:password@]host[:port]")
        return cls(parsed.hostname, parsed.port or 1883, parsed.username, parsed.password)


def customer_of_topic(topic: str) -> str:
    """The customer a device's topic names: its last level."""
    return topic.rsplit("/", 1)[-1]


@dataclass
class Counts:
    forwarded: int = 0
    # Set once the broker confirmed the subscription: from then on it keeps the messages.
    subscribed: threading.Event = field(default_factory=threading.Event)


def bridge(
    kafka: KafkaConfig,
    mqtt_at: MqttAddress,
    topic: str = "engage/events/+",
    client_id: str = "engage-mqtt-bridge",
    stop: threading.Event | None = None,
    counts: Counts | None = None,
) -> None:
    """Forward until `stop` is set (or forever). Raises BrokerUnavailableError when Kafka
    or the MQTT broker cannot be reached, leaving what was not forwarded unacknowledged."""
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
    except ImportError:
        raise ConfigError(
            "engage[mqtt]", "the bridge needs paho-mqtt: pip install 'engage[mqtt]'"
        ) from None

    stop = stop or threading.Event()
    counts = counts if counts is not None else Counts()
    arrived: queue.Queue[Any] = queue.Queue(maxsize=10_000)
    producer = make_producer(kafka)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True
    )
    if mqtt_at.username is not None:
        client.username_pw_set(mqtt_at.username, mqtt_at.password)

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.subscribe(topic, qos=1)  # again on every reconnect

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        arrived.put(message)  # forwarded off the network thread: a send may take a while

    def on_subscribe(client: Any, userdata: Any, mid: Any, codes: Any, properties: Any) -> None:
        counts.subscribed.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    try:
        client.connect(mqtt_at.host, mqtt_at.port, keepalive=30)
    except OSError as error:
        producer.close(timeout=5)
        raise BrokerUnavailableError(f"{mqtt_at.host}:{mqtt_at.port}", repr(error)) from error
    client.loop_start()
    try:
        while not stop.is_set():
            try:
                message = arrived.get(timeout=0.2)
            except queue.Empty:
                continue
            key = customer_of_topic(message.topic).encode()
            try:
                producer.send(kafka.events_topic, key=key, value=message.payload).get(
                    timeout=SEND_TIMEOUT_S
                )
            except KafkaError as error:
                raise BrokerUnavailableError(kafka.require_bootstrap(), repr(error)) from error
            client.ack(message.mid, message.qos)
            counts.forwarded += 1
    finally:
        client.loop_stop()
        client.disconnect()
        producer.close(timeout=5)


def add_mqtt_bridge_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "mqtt-bridge", help="devices' events from an MQTT broker onto Kafka's events topic"
    )
    parser.add_argument("--mqtt", required=True, help="mqtt://[user:password@]host[:port]")
    parser.add_argument("--topic", default="engage/events/+", help="the devices' topics")
    parser.add_argument(
        "--client-id", default="engage-mqtt-bridge", help="the session's id (keep it fixed)"
    )


def mqtt_bridge_command(args: argparse.Namespace, settings: Settings) -> int:
    if settings.broker != "kafka":
        print(
            "engage: on RabbitMQ, devices publish to engage directly through its MQTT "
            "plugin (docs/rabbitmq.md); the bridge is for Kafka",
            file=sys.stderr,
        )
        return 2
    kafka = settings.kafka
    address = MqttAddress.parse(args.mqtt)
    topic, client_id = args.topic, args.client_id
    counts = Counts()
    started = time.monotonic()
    print(f"forwarding {topic} on {address.host}:{address.port} to {kafka.events_topic}")
    with contextlib.suppress(KeyboardInterrupt):
        bridge(kafka, address, topic, client_id, counts=counts)
    print(f"forwarded {counts.forwarded:,} events in {time.monotonic() - started:.0f} s")
    return 0
