"""How the fault schedule reaches the run's event broker: records in; actions, dead
letters and progress out. One implementation per broker, as engage's own seam
(actors.brokers.base): the schedule never asks which broker it runs on."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import pika
from kafka import KafkaProducer

from actors.brokers.amqp import MARKER_TYPE, parameters, read_stream_to
from actors.config import KafkaConfig, RabbitMQConfig
from actors.model.events import Event, event_to_json
from engage.chaos import observe
from engage.chaos.stream import Hostile
from serving.figures import ingest_figures

Record = Event | Hostile


class Progress(Protocol):
    """How many of the records sent ingest has committed, sampled over time."""

    samples: list[tuple[float, int]]

    def stop(self) -> None: ...

    def stall_after(self, ended: float, target: int) -> float: ...


class Channels(Protocol):
    def produce(self, items: Sequence[Record]) -> int:
        """Send records as engage's producers do (keyed by actor); how many were sent."""
        ...

    def actions(self, prefix: str, at_least: int = 0) -> list[tuple[dict[str, Any], float]]:
        """Every action of the run's customers on the actions topic or exchange, with when
        the broker took it (wall-clock seconds)."""
        ...

    def dead_letters(self, keys: set[bytes]) -> dict[bytes, str]:
        """The reason each record keyed one of `keys` was dead-lettered with."""
        ...

    def action_dead_letters(self, prefix: str) -> list[tuple[dict[str, Any], str]]:
        """Actions of the run's customers that went to the actions dead letters, with the
        reason."""
        ...

    def progress(self) -> Progress:
        """Start sampling what ingest has committed."""
        ...


def quiet_actions_topic(kafka: KafkaConfig, partitions: int = 16, history: int = 20_000) -> None:
    """An actions topic as a long-running deployment has one: more partitions than the run
    writes to at any moment, each holding days of history. Created before engage creates
    its topics; a look-up of an action must read what could hold it, not this history."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(kafka.actions_topic, partitions, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=20)
    stamp = int((time.time() - 3 * 86_400) * 1000)
    try:
        for n in range(history):
            producer.send(
                kafka.actions_topic,
                value=b'{"history": true}',
                partition=n % partitions,
                timestamp_ms=stamp + n,
            )
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=5)


class KafkaChannels:
    def __init__(self, kafka: KafkaConfig) -> None:
        self.kafka = kafka

    def produce(self, items: Sequence[Record]) -> int:
        producer = KafkaProducer(
            bootstrap_servers=self.kafka.bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=2 * 1024 * 1024,
            retries=10,
        )
        topic = self.kafka.events_topic
        try:
            for item in items:
                if isinstance(item, Hostile):
                    producer.send(topic, key=item.key, value=item.value)
                else:
                    producer.send(topic, key=item.actor_id.encode(), value=event_to_json(item))
            producer.flush(timeout=60)
        finally:
            producer.close(timeout=5)
        return len(items)

    def actions(self, prefix: str, at_least: int = 0) -> list[tuple[dict[str, Any], float]]:
        reader = observe.TopicReader(self.kafka, self.kafka.actions_topic)
        try:
            reader.read_until(
                lambda rs: (
                    sum(bool(r.key and r.key.decode().startswith(prefix)) for r in rs) >= at_least
                ),
                180,
            )
            reader.read_until_quiet()  # anything duplicated would arrive right behind
            out = []
            for record in reader.records:
                body = json.loads(record.value)
                if str(body.get("customer_id", "")).startswith(prefix):
                    out.append((body, record.timestamp / 1000))
            return out
        finally:
            reader.close()

    def dead_letters(self, keys: set[bytes]) -> dict[bytes, str]:
        return observe.dead_letters_of(self.kafka, self.kafka.events_dlq_topic, keys)

    def action_dead_letters(self, prefix: str) -> list[tuple[dict[str, Any], str]]:
        reader = observe.TopicReader(self.kafka, self.kafka.actions_dlq_topic)
        try:
            reader.read_until_quiet(quiet_s=3.0)
            out = []
            for record in reader.records:
                body = json.loads(record.value)
                if str(body.get("customer_id", "")).startswith(prefix):
                    reason = dict(record.headers or ()).get("error-reason", b"").decode()
                    # When it was written: lets the report say which fault a copy follows.
                    body["_written_at"] = record.timestamp / 1000
                    out.append((body, reason))
            return out
        finally:
            reader.close()

    def progress(self) -> Progress:
        return observe.Progress(self.kafka).start()


class RabbitChannels:
    """RabbitMQ: records to the events exchange, actions read back from the actions log
    stream, dead letters taken from their queues, progress as what the events queues no
    longer hold."""

    def __init__(self, rabbitmq: RabbitMQConfig, redis_url: str, redis_prefix: str) -> None:
        self.rabbitmq = rabbitmq
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.url = rabbitmq.require_url()
        self.sent = 0
        self._letters: dict[bytes, str] = {}
        self._action_letters: list[tuple[dict[str, Any], str]] = []

    def produce(self, items: Sequence[Record]) -> int:
        connection = pika.BlockingConnection(parameters(self.url, 30.0))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            for item in items:
                key = item.key.decode() if isinstance(item, Hostile) else item.actor_id
                body = (item.value or b"") if isinstance(item, Hostile) else event_to_json(item)
                channel.basic_publish(
                    self.rabbitmq.events_exchange,
                    key,
                    body,
                    pika.BasicProperties(
                        delivery_mode=pika.DeliveryMode.Persistent, headers={"customer-id": key}
                    ),
                )
        finally:
            connection.close()
        self.sent += len(items)
        return len(items)

    def actions(self, prefix: str, at_least: int = 0) -> list[tuple[dict[str, Any], float]]:
        deadline = time.monotonic() + 180
        while True:
            found = self._actions(prefix)
            if len(found) >= at_least or time.monotonic() > deadline:
                time.sleep(3.0)  # anything duplicated would arrive right behind
                return self._actions(prefix)
            time.sleep(1.0)

    def _actions(self, prefix: str) -> list[tuple[dict[str, Any], float]]:
        connection = pika.BlockingConnection(parameters(self.url, 30.0))
        out: list[tuple[dict[str, Any], float]] = []
        try:
            marker = f"marker-{uuid.uuid4().hex}"
            connection.channel().basic_publish(
                "",
                self.rabbitmq.actions_log,
                b"",
                pika.BasicProperties(message_id=marker, type=MARKER_TYPE),
            )

            def seen(properties: Any, body: bytes) -> None:
                if properties.type == MARKER_TYPE or not body:
                    return
                action = json.loads(body)
                if str(action.get("customer_id", "")).startswith(prefix):
                    headers = properties.headers or {}
                    at = float(headers.get("published-at", properties.timestamp or 0))
                    out.append((action, at))

            read_stream_to(
                connection, self.rabbitmq.actions_log, "first", marker, seen, 120.0, idle=True
            )
        finally:
            connection.close()
        return out

    def _drain(self, queue: str) -> list[tuple[dict[str, Any], bytes]]:
        connection = pika.BlockingConnection(parameters(self.url, 30.0))
        taken: list[tuple[dict[str, Any], bytes]] = []
        try:
            channel = connection.channel()
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return taken
                taken.append((dict(properties.headers or {}), body))
        finally:
            connection.close()

    def dead_letters(self, keys: set[bytes]) -> dict[bytes, str]:
        deadline = time.monotonic() + 120
        while True:
            for headers, _ in self._drain(self.rabbitmq.events_dlq):
                key = str(headers.get("customer-id", "")).encode()
                self._letters[key] = str(headers.get("error-reason", ""))
            if keys <= set(self._letters) or time.monotonic() > deadline:
                return dict(self._letters)
            time.sleep(1.0)

    def action_dead_letters(self, prefix: str) -> list[tuple[dict[str, Any], str]]:
        time.sleep(3.0)
        for headers, body in self._drain(self.rabbitmq.actions_dlq):
            action = json.loads(body)
            self._action_letters.append((action, str(headers.get("error-reason", ""))))
        return [
            (a, r)
            for a, r in self._action_letters
            if str(a.get("customer_id", "")).startswith(prefix)
        ]

    def progress(self) -> Progress:
        return _LagProgress(self, self.redis_url, self.redis_prefix).start()


class _LagProgress:
    """What ingest has taken off the queues for good: everything sent less its replicas'
    lag (held unacked plus ready, as each replica measures it and publishes it to Redis
    every 2 s). A replica killed mid-run leaves its last figures for a few seconds, so
    progress after such a fault reads a little late, never early."""

    def __init__(self, channels: RabbitChannels, redis_url: str, prefix: str) -> None:
        self.channels = channels
        self.redis_url = redis_url
        self.prefix = prefix
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> _LagProgress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                replicas = ingest_figures(self.redis_url, self.prefix)
            except Exception:  # Redis paused: no sample then
                replicas = None
            if replicas:
                lag = sum(int(r.get("total_lag", 0)) for r in replicas)
                self.samples.append((time.monotonic(), self.channels.sent - lag))
            self._stop.wait(0.5)

    def stall_after(self, ended: float, target: int) -> float:
        return observe.stall_after(self.samples, ended, target)
