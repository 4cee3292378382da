"""The one place that reads which event broker engage runs on."""

from __future__ import annotations

from typing import Literal, get_args

from actors.brokers.amqp_broker import RabbitBroker
from actors.brokers.base import Broker
from actors.brokers.kafka_broker import KafkaBroker
from actors.config import KafkaConfig, RabbitMQConfig

BrokerName = Literal["kafka", "rabbitmq"]
BROKER_NAMES: tuple[BrokerName, ...] = get_args(BrokerName)


def broker_of(name: BrokerName, kafka: KafkaConfig, rabbitmq: RabbitMQConfig) -> Broker:
    """The broker `ENGAGE_BROKER` names, with its settings."""
    if name == "rabbitmq":
        return RabbitBroker(rabbitmq)
    return KafkaBroker(kafka)
