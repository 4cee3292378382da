"""The synthetic traffic producer behind `engage simulate` and `make demo`, on the event
broker in use (Kafka's events topic, or RabbitMQ's events exchange)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from pika.exceptions import AMQPError

from actors.brokers.amqp import AmqpPublisher
from actors.brokers.kafka import make_producer
from actors.model.events import Event, event_to_json
from engage.settings import Settings
from training.synthetic import LiveTraffic


class Outlet(Protocol):
    """Where sessions go. `send` returns once the broker holds them (or raises)."""

    def send(self, session: list[Event]) -> None: ...

    def close(self) -> None: ...


class KafkaOutlet:
    def __init__(self, settings: Settings) -> None:
        self._topic = settings.kafka.events_topic
        self._producer = make_producer(settings.kafka, linger_ms=20)

    def send(self, session: list[Event]) -> None:
        # Batched by the producer; `close` flushes what is still in flight.
        for event in session:
            self._producer.send(
                self._topic, key=event.actor_id.encode(), value=event_to_json(event)
            )

    def close(self) -> None:
        try:
            self._producer.flush(timeout=30)
        finally:
            self._producer.close(timeout=10)


class RabbitMQOutlet:
    def __init__(self, settings: Settings) -> None:
        self._publisher = AmqpPublisher.of(settings.rabbitmq)

    def send(self, session: list[Event]) -> None:
        self._publisher.publish([(e.actor_id, event_to_json(e)) for e in session])

    def close(self) -> None:
        self._publisher.close()


def outlet_for(settings: Settings) -> Outlet:
    if settings.broker == "rabbitmq":
        return RabbitMQOutlet(settings)
    settings.kafka.require_bootstrap()
    return KafkaOutlet(settings)


class TrafficProducer:
    """Sends whole customer sessions to the event broker at about `rate` events per second.

    A session RabbitMQ does not confirm is sent again after a pause (its events keep their
    ids, so a copy that did arrive is a no-op), until the run ends; `errors` counts the
    failed attempts and `sent` only what the broker took."""

    def __init__(
        self,
        settings: Settings,
        rate: float = 200.0,
        customers: int = 1000,
        seed: int = 11,
        fraud_rate: float = 0.01,
        retry_pause_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.rate = rate
        self.traffic = LiveTraffic(customers=customers, seed=seed, fraud_rate=fraud_rate)
        self.sent = 0
        self.errors = 0
        self.retry_pause_s = retry_pause_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(
        self, duration_s: float | None = None, on_tick: Callable[[int], None] | None = None
    ) -> int:
        outlet = outlet_for(self.settings)
        started = time.monotonic()

        def over() -> bool:
            ended = duration_s is not None and time.monotonic() - started >= duration_s
            return ended or self._stop.is_set()

        try:
            while not over():
                behind = self.rate * (time.monotonic() - started) - self.sent
                if behind < 1:
                    time.sleep(min(0.05, (1 - behind) / self.rate))
                    continue
                session = self.traffic.next_session(time.time())
                while not over():
                    try:
                        outlet.send(session)
                    except (AMQPError, OSError):
                        self.errors += 1
                        self._stop.wait(self.retry_pause_s)
                        continue
                    self.sent += len(session)
                    break
                if on_tick is not None:
                    on_tick(self.sent)
        finally:
            outlet.close()
        return self.sent

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
