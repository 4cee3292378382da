"""The application builder for `serve deploy serve_config.yaml` and `serve run`.

Serve calls `app(args)` on the cluster; settings come from the ENGAGE_* environment of the
cluster's nodes (see cluster.yaml), never from the machine that ran `serve deploy`.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from engage.settings import Settings, load_settings
from serving.app import build_app


def application(settings: Settings) -> Application:
    """The Serve application for `settings`, on the event broker they name."""
    return build_app(
        settings.ray.namespace,
        settings.actors,
        settings.redis,
        settings.event_broker(),
        settings.kafka,
        settings.sinks,
        settings.serve,
        settings.api,
    )


def app(args: dict[str, Any]) -> Application:
    settings = load_settings()
    settings.event_broker().prepare()
    return application(settings)
