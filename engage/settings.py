"""Settings: read once from `ENGAGE_*` variables at an entry point, passed down as parts.

Names follow the nesting: `ENGAGE_KAFKA_BOOTSTRAP` is `settings.kafka.bootstrap`,
`ENGAGE_ACTORS_SHARDS` is `settings.actors.shards`. A wrong value stops start-up with
`ConfigError` naming the variable to fix.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.brokers.base import Broker
from actors.brokers.select import BrokerName, broker_of
from actors.config import ActorConfig, KafkaConfig, RabbitMQConfig, RedisConfig, SinkConfig
from actors.errors import ConfigError
from serving.config import ApiConfig, ServeConfig


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RayConfig(_Part):
    # None: start a local Ray; "auto": join the cluster this machine belongs to.
    address: str | None = None
    namespace: str = "engage"
    num_cpus: int | None = Field(default=None, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENGAGE_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
        extra="forbid",
    )

    # The event broker: Kafka (any Kafka-protocol broker), or RabbitMQ (docs/rabbitmq.md).
    broker: BrokerName = "kafka"
    kafka: KafkaConfig = KafkaConfig()
    rabbitmq: RabbitMQConfig = RabbitMQConfig()
    redis: RedisConfig = RedisConfig()
    ray: RayConfig = RayConfig()
    actors: ActorConfig = ActorConfig()
    serve: ServeConfig = ServeConfig()
    api: ApiConfig = ApiConfig()
    sinks: SinkConfig = SinkConfig()

    def event_broker(self) -> Broker:
        """The event broker these settings name (actors.brokers.select)."""
        return broker_of(self.broker, self.kafka, self.rabbitmq)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; errors name the ENGAGE_* variable at fault."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        item = error.errors(include_url=False)[0]
        name = "ENGAGE_" + "_".join(str(p).upper() for p in item["loc"] if not isinstance(p, int))
        raise ConfigError(name, item["msg"]) from None
