"""The synthetic traffic producer behind `engage simulate` and `make demo`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from actors.config import KafkaConfig
from actors.events import event_to_json
from actors.kafka_io import make_producer
from training.synthetic import LiveTraffic


class TrafficProducer:
    """Sends whole customer sessions to engage.events at about `rate` events per second."""

    def __init__(
        self,
        kafka: KafkaConfig,
        rate: float = 200.0,
        customers: int = 1000,
        seed: int = 11,
        fraud_rate: float = 0.01,
    ) -> None:
        self.kafka = kafka
        self.rate = rate
        self.traffic = LiveTraffic(customers=customers, seed=seed, fraud_rate=fraud_rate)
        self.sent = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(
        self, duration_s: float | None = None, on_tick: Callable[[int], None] | None = None
    ) -> int:
        producer = make_producer(self.kafka, linger_ms=20)
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                if duration_s is not None and elapsed >= duration_s:
                    break
                behind = self.rate * elapsed - self.sent
                if behind < 1:
                    time.sleep(min(0.05, (1 - behind) / self.rate))
                    continue
                for event in self.traffic.next_session(time.time()):
                    producer.send(
                        self.kafka.events_topic,
                        key=event.actor_id.encode(),
                        value=event_to_json(event),
                    )
                    self.sent += 1
                if on_tick is not None:
                    on_tick(self.sent)
            producer.flush(timeout=30)
        finally:
            producer.close(timeout=10)
        return self.sent

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
