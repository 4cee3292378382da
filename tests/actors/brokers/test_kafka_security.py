"""Managed-Kafka security settings reach every producer, consumer and admin client."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from actors.brokers import kafka as kafka_io
from actors.config import KafkaConfig
from actors.errors import ConfigError
from engage.settings import load_settings

SASL = {
    "ENGAGE_KAFKA_BOOTSTRAP": "b-1.msk.example:9096",
    "ENGAGE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "ENGAGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "ENGAGE_KAFKA_SASL_USERNAME": "engage",
    "ENGAGE_KAFKA_SASL_PASSWORD": "s3cret",
    "ENGAGE_KAFKA_SSL_CAFILE": "/etc/ssl/msk-ca.pem",
}


def test_sasl_and_tls_settings_reach_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SASL.items():
        monkeypatch.setenv(name, value)
    kafka = load_settings().kafka
    made: list[tuple[str, dict[str, Any]]] = []

    def recorder(kind: str) -> Any:
        def make(*topics: str, **options: Any) -> object:
            made.append((kind, options))
            return object()

        return make

    monkeypatch.setattr(kafka_io, "KafkaProducer", recorder("producer"))
    monkeypatch.setattr(kafka_io, "KafkaConsumer", recorder("consumer"))
    kafka_io.make_producer(kafka)
    kafka_io.make_consumer(kafka, kafka.events_topic)
    assert [kind for kind, _ in made] == ["producer", "consumer"]
    for _, options in made:
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert options["sasl_plain_username"] == "engage"
        assert options["sasl_plain_password"] == "s3cret"
        assert options["ssl_cafile"] == "/etc/ssl/msk-ca.pem"
        assert options["bootstrap_servers"] == ["b-1.msk.example:9096"]


def test_sasl_without_a_mechanism_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        KafkaConfig(security_protocol="SASL_PLAINTEXT", sasl_username="u")
    assert caught.value.setting == "ENGAGE_KAFKA_SASL_MECHANISM"


@pytest.mark.integration
@pytest.mark.apache_kafka
def test_clients_authenticate_to_a_sasl_broker() -> None:
    from tests import apache_kafka

    broker = apache_kafka.start(sasl_users={"admin": "admin-secret", "engage": "engage-secret"})
    try:
        good = KafkaConfig(
            bootstrap=broker.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="engage",
            sasl_password="engage-secret",
            events_topic=f"sasl-{uuid.uuid4().hex[:6]}",
        )
        kafka_io.ensure_topics(good)
        producer = kafka_io.make_producer(good)
        producer.send(good.events_topic, b"hello").get(timeout=30)
        producer.close()
        consumer = kafka_io.make_consumer(good, good.events_topic, group_id=None)
        deadline = time.monotonic() + 30
        got: list[bytes] = []
        while not got and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += [r.value for r in records]
        consumer.close()
        assert got == [b"hello"]
        wrong = good.model_copy(update={"sasl_password": SecretStr("nope")})
        with pytest.raises(Exception, match=r"(?i)auth|broker"):
            kafka_io.ensure_topics(wrong, timeout_s=5)
    finally:
        broker.stop()
