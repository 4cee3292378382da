"""Where actions go: a Kafka topic (default), RabbitMQ, webhooks, e-mail, the log."""

from __future__ import annotations

from actors.config import SinkConfig
from actors.delivery.sinks.amqp import AmqpSink
from actors.delivery.sinks.base import Sink
from actors.delivery.sinks.email import EmailSink
from actors.delivery.sinks.log import LogSink
from actors.delivery.sinks.webhook import WebhookSink


def build_sinks(config: SinkConfig) -> dict[str, Sink]:
    """The configured sinks besides Kafka (which needs the shard's producer)."""
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
        )
    if config.amqp_url:
        sinks["amqp"] = AmqpSink(
            config.amqp_url.get_secret_value(),
            exchange=config.amqp_exchange,
            log_stream=config.amqp_log_stream,
            log_max_age=config.amqp_log_max_age,
            timeout_s=config.amqp_timeout_s,
        )
    return sinks
