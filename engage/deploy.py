"""The application builder for `serve deploy serve_config.yaml` and `serve run`.

Serve calls `app(args)` on the cluster; settings come from the ENGAGE_* environment of the
cluster's nodes (see cluster.yaml), never from the machine that ran `serve deploy`.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from actors.brokers.kafka import ensure_topics
from engage.settings import Settings, load_settings
from serving.app import build_app


def application(settings: Settings) -> Application:
    """The Serve application for `settings`, on the event broker they name."""
    return build_app(
        settings.ray.namespace,
        settings.actors,
        settings.redis,
        settings.kafka,
        settings.sinks,
        settings.serve,
        settings.api,
        settings.rabbitmq if settings.broker == "rabbitmq" else None,
    )


def app(args: dict[str, Any]) -> Application:
    settings = load_settings()
    if settings.broker == "kafka":  # RabbitMQ's exchanges and queues are declared by their users
        ensure_topics(settings.kafka)
    return application(settings)
