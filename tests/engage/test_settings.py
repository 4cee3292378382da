"""Settings: ENGAGE_* variables, nested by their first part; errors name the variable."""

from __future__ import annotations

import pytest

from actors.errors import ConfigError
from engage.settings import load_settings


def test_variables_map_to_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", "broker:9092")
    monkeypatch.setenv("ENGAGE_REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("ENGAGE_RAY_ADDRESS", "auto")
    monkeypatch.setenv("ENGAGE_ACTORS_MAX_LIVE_CUSTOMERS", "5000")
    monkeypatch.setenv("ENGAGE_SERVE_PORT", "9100")
    settings = load_settings()
    assert settings.kafka.bootstrap == "broker:9092"
    assert settings.redis.url == "redis://r:6379/0"
    assert settings.ray.address == "auto"
    assert settings.actors.max_live_customers == 5000
    assert settings.serve.port == 9100


def test_defaults_use_the_embedded_stack() -> None:
    settings = load_settings()
    assert settings.kafka.bootstrap is None
    assert settings.redis.url is None
    assert settings.kafka.events_topic == "engage.events"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENGAGE_ACTORS_SHARDS", "zero"),
        ("ENGAGE_SERVE_PORT", "70000"),
        ("ENGAGE_KAFKA_SECURITY_PROTOCOL", "CARRIER_PIGEON"),
        ("ENGAGE_ACTORS_IDLE_PASSIVATION_S", "-1"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == name


def test_sasl_without_credentials_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "ENGAGE_KAFKA_SASL_MECHANISM"


def test_secrets_do_not_show_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ENGAGE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ENGAGE_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("ENGAGE_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", "b:9096")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    options = settings.kafka.client_options()
    assert options["sasl_plain_password"] == "hunter2"
    assert options["security_protocol"] == "SASL_SSL"
