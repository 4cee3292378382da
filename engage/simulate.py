"""The synthetic traffic producer behind `engage simulate` and `make demo`, on the event
broker in use (Kafka's events topic, or RabbitMQ's events exchange)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from actors.brokers.base import EventPublisher
from actors.errors import BrokerUnavailableError
from actors.model.events import event_to_json
from engage.settings import Settings
from training.live_traffic import LiveTraffic


def outlet_for(settings: Settings) -> EventPublisher:
    """Where sessions go: the publisher of the broker in use (it connects on first use)."""
    broker = settings.event_broker()
    _ = broker.address  # raises ConfigError naming the setting when none is given
    return broker.publisher()


class TrafficProducer:
    """Sends whole customer sessions to the event broker at about `rate` events per second.

    A session the broker does not acknowledge is sent again after a pause (its events keep
    their ids, so a copy that did arrive is a no-op), until the run ends; `errors` counts
    the failed attempts and `sent` only what the broker took."""

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
                        outlet.publish([(e.actor_id, event_to_json(e)) for e in session])
                    except BrokerUnavailableError:
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
