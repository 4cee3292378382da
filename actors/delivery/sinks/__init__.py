"""Where actions go besides the event broker's actions stream: webhooks, e-mail, the log.

The broker's own sinks (the default `kafka` sink, rules' `sink: amqp`) are in
actors.brokers; a shard's full set is assembled by actors.hosting.wiring."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from actors.config import SinkConfig
from actors.delivery.sinks.base import Sink
from actors.delivery.sinks.email import EmailSink, Unsubscribe
from actors.delivery.sinks.log import LogSink
from actors.delivery.sinks.webhook import WebhookSink
from actors.rules.emails import EmailTemplate


def build_sinks(
    config: SinkConfig, templates: Callable[[], Mapping[str, EmailTemplate]] = dict
) -> dict[str, Sink]:
    """The configured sinks that are not the event broker's; e-mail written from the
    `templates` of the rules in force."""
    sinks: dict[str, Sink] = {"log": LogSink()}
    if config.webhook_url:
        secret = config.webhook_secret.get_secret_value() if config.webhook_secret else ""
        sinks["webhook"] = WebhookSink(
            config.webhook_url, secret.encode(), timeout_s=config.webhook_timeout_s
        )
    if config.smtp_host:
        password = config.smtp_password.get_secret_value() if config.smtp_password else None
        sinks["email"] = EmailSink(
            config.smtp_host,
            config.smtp_port,
            sender=config.smtp_from,
            username=config.smtp_username,
            password=password,
            starttls=config.smtp_starttls,
            timeout_s=config.smtp_timeout_s,
            templates=templates,
            links=_links(config),
        )
    return sinks


def _links(config: SinkConfig) -> Unsubscribe | None:
    if config.email_unsubscribe_url is None or config.email_unsubscribe_secret is None:
        return None
    return Unsubscribe(
        config.email_unsubscribe_url, config.email_unsubscribe_secret.get_secret_value()
    )
