"""`engage.deploy:app`, what `serve deploy serve_config.yaml` builds on a cluster: the
application on the broker the nodes' settings name, without Ray running yet."""

from __future__ import annotations

import pytest

from actors.config import RabbitMQConfig
from engage.deploy import app


def test_on_rabbitmq_the_cluster_app_needs_no_kafka_and_is_given_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGAGE_BROKER", "rabbitmq")
    monkeypatch.setenv("ENGAGE_RABBITMQ_URL", "amqps://engage:pw@mq:5671/prod")
    monkeypatch.setenv("ENGAGE_REDIS_URL", "redis://r:6379/0")
    built = app({})  # no ENGAGE_KAFKA_BOOTSTRAP: no topics to create
    given = [a for a in built._bound_deployment.init_args if isinstance(a, RabbitMQConfig)]
    assert [c.require_url() for c in given] == ["amqps://engage:pw@mq:5671/prod"]
