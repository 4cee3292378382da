"""Which sinks a shard has: the log always, the others when their settings are given."""

from __future__ import annotations

from pydantic import SecretStr

from actors.config import SinkConfig
from actors.delivery.sinks import build_sinks
from actors.delivery.sinks.amqp import AmqpSink


def test_only_the_log_sink_exists_without_settings() -> None:
    assert set(build_sinks(SinkConfig())) == {"log"}


def test_a_rabbitmq_url_adds_the_amqp_sink_without_connecting_yet() -> None:
    # Port 9 (discard): nothing listens; building must not try to connect.
    config = SinkConfig(amqp_url=SecretStr("amqp://guest:guest@127.0.0.1:9/%2F"))
    sinks = build_sinks(config)
    assert isinstance(sinks["amqp"], AmqpSink)
    assert set(sinks) == {"log", "amqp"}
