"""`engage simulate`'s producer: sessions at the rate asked, to the broker in use; a session
the broker refuses is sent again and only what it took is counted."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import engage.simulate
from actors.brokers.amqp_publish import AmqpPublisher
from actors.errors import BrokerUnavailableError, ConfigError
from engage.settings import load_settings
from engage.simulate import TrafficProducer, outlet_for


class FlakyOutlet:
    """Refuses the first `failures` sends, then takes everything."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[list[tuple[str, bytes]]] = []
        self.taken: list[tuple[str, bytes]] = []
        self.closed = False

    def publish(self, events: Sequence[tuple[str, bytes]], timeout_s: float = 10.0) -> None:
        self.attempts.append(list(events))
        if len(self.attempts) <= self.failures:
            raise BrokerUnavailableError("127.0.0.1:5672", "broker unreachable")
        self.taken += events

    def close(self) -> None:
        self.closed = True


def test_a_refused_session_is_sent_again_and_only_what_the_broker_took_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outlet = FlakyOutlet(failures=2)
    monkeypatch.setattr(engage.simulate, "outlet_for", lambda settings: outlet)
    producer = TrafficProducer(load_settings(), rate=2000, customers=20, retry_pause_s=0.01)
    sent = producer.run(duration_s=0.5)
    assert producer.errors == 2
    assert outlet.attempts[0] == outlet.attempts[1] == outlet.attempts[2]  # the same session
    assert sent > 0
    assert sent == len(outlet.taken)  # sessions and the outcomes that fell due
    assert outlet.closed


def test_the_outlet_follows_the_broker_setting() -> None:
    rabbitmq = load_settings(broker="rabbitmq", rabbitmq={"url": "amqp://127.0.0.1:1/%2F"})
    outlet = outlet_for(rabbitmq)  # connects on first send, not here
    assert isinstance(outlet, AmqpPublisher)
    outlet.close()
    with pytest.raises(ConfigError) as refused:
        outlet_for(load_settings())  # Kafka, and no broker address given
    assert refused.value.setting == "ENGAGE_KAFKA_BOOTSTRAP"
