"""`engage.deploy:app`, what `serve deploy serve_config.yaml` builds on a cluster: the
application on the broker the nodes' settings name, without Ray running yet."""

from __future__ import annotations

import pytest

from actors.brokers.amqp_broker import RabbitBroker
from engage.deploy import app
from serving.api import ApiRecipe


def test_on_rabbitmq_the_cluster_app_prepares_and_is_given_that_broker_without_kafka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGAGE_BROKER", "rabbitmq")
    monkeypatch.setenv("ENGAGE_RABBITMQ_URL", "amqps://engage:pw@mq:5671/prod")
    monkeypatch.setenv("ENGAGE_REDIS_URL", "redis://r:6379/0")
    prepared: list[str] = []

    def prepare(broker: RabbitBroker, timeout_s: float = 30.0) -> list[str]:
        prepared.append(broker.config.require_url())
        return []

    monkeypatch.setattr(RabbitBroker, "prepare", prepare)
    built = app({})  # no ENGAGE_KAFKA_BOOTSTRAP needed
    (recipe,) = [a for a in built._bound_deployment.init_args if isinstance(a, ApiRecipe)]
    assert isinstance(recipe.broker, RabbitBroker)
    assert recipe.broker.config.require_url() == "amqps://engage:pw@mq:5671/prod"
    assert prepared == ["amqps://engage:pw@mq:5671/prod"]
