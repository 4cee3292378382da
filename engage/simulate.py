"""The synthetic traffic producer behind `engage simulate` and `make demo`, on the event
broker in use (Kafka's events topic, or RabbitMQ's events exchange)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from actors.brokers.base import EventPublisher
from actors.errors import BrokerUnavailableError
from actors.model.events import Event, event_to_json
from engage.settings import Settings
from training.live_traffic import DEMO_DELAY_SCALE, LAPSED_SHARE, LiveTraffic


def outlet_for(settings: Settings) -> EventPublisher:
    """Where sessions go: the publisher of the broker in use (it connects on first use)."""
    broker = settings.event_broker()
    _ = broker.address  # raises ConfigError naming the setting when none is given
    return broker.publisher()


class TrafficProducer:
    """Sends whole customer sessions to the event broker at about `rate` events per second,
    and the outcomes that follow them (fraud reports, chargebacks, offer clicks and
    conversions, lapsed customers' orders after their return) when they fall due on the
    demo clock (`outcome_delay_scale`); `sent` counts both, `outcomes_sent` the outcomes
    among them.

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
        outcome_delay_scale: float = DEMO_DELAY_SCALE,
        takeover_share: float = 0.0,
        lapsed_share: float = LAPSED_SHARE,
    ) -> None:
        self.settings = settings
        self.rate = rate
        self.traffic = LiveTraffic(
            customers=customers,
            seed=seed,
            fraud_rate=fraud_rate,
            outcome_delay_scale=outcome_delay_scale,
            takeover_share=takeover_share,
            lapsed_share=lapsed_share,
            # Each run's own event ids: a second simulator beside the demo's adds traffic.
            run_id=secrets.token_hex(3),
        )
        self.sent = 0
        self.outcomes_sent = 0
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

        def send(events: list[Event]) -> bool:
            while not over():
                try:
                    outlet.publish([(e.actor_id, event_to_json(e)) for e in events])
                except BrokerUnavailableError:
                    self.errors += 1
                    self._stop.wait(self.retry_pause_s)
                    continue
                return True
            return False

        try:
            while not over():
                # Outcomes whose (demo) time has come: reports, clicks, conversions.
                due = self.traffic.due(time.time())
                if due and send(due):
                    self.outcomes_sent += len(due)
                    self.sent += len(due)
                behind = self.rate * (time.monotonic() - started) - self.sent
                if behind < 1:
                    time.sleep(min(0.05, (1 - behind) / self.rate))
                    continue
                session = self.traffic.next_session(time.time())
                if send(session):
                    self.sent += len(session)
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
