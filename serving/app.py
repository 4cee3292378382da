"""Builds the Serve application: Api (ingress) → Scorer, Ingest; shards as Ray actors."""

from __future__ import annotations

from ray.serve import Application

from actors.config import ActorConfig, KafkaConfig, RabbitMQConfig, RedisConfig, SinkConfig
from serving.api import Api
from serving.config import ApiConfig, ServeConfig
from serving.embedded_scorer import EmbeddedScorerFactory
from serving.ingest import Ingest
from serving.scorer import Scorer
from serving.scorer_client import HandleScorerFactory


def build_app(
    namespace: str,
    actors: ActorConfig,
    redis_config: RedisConfig,
    kafka: KafkaConfig,
    sinks: SinkConfig,
    serve_config: ServeConfig,
    api: ApiConfig,
    rabbitmq: RabbitMQConfig | None = None,
) -> Application:
    """The application; with `rabbitmq`, events come and go through RabbitMQ instead of
    Kafka (and actions for the default sink go there too)."""
    redis_url = redis_config.require_url()
    if rabbitmq is None:
        kafka.require_bootstrap()
    else:
        rabbitmq.require_url()
        sinks = on_rabbitmq(sinks, rabbitmq)
    scorer = Scorer.options(num_replicas=serve_config.scorer_replicas).bind(  # type: ignore[attr-defined]
        redis_url,
        redis_config.prefix,
        max_batch_size=serve_config.scorer_max_batch,
        batch_wait_timeout_s=serve_config.scorer_batch_wait_s,
    )
    scorer_factory: HandleScorerFactory | EmbeddedScorerFactory
    if serve_config.shard_scoring == "embedded":
        scorer_factory = EmbeddedScorerFactory(redis_url, redis_config.prefix)
    else:
        scorer_factory = HandleScorerFactory(serve_config.app)
    ingest = Ingest.options(num_replicas=serve_config.ingest_replicas).bind(  # type: ignore[attr-defined]
        namespace, actors, redis_config, kafka, sinks, scorer_factory, rabbitmq
    )
    app: Application = Api.options(num_replicas=serve_config.api_replicas).bind(  # type: ignore[attr-defined]
        namespace, actors, redis_config, kafka, api, scorer, ingest, rabbitmq
    )
    return app


def on_rabbitmq(sinks: SinkConfig, rabbitmq: RabbitMQConfig) -> SinkConfig:
    """The sinks of an engage on RabbitMQ: the amqp sink on the broker's actions exchange
    (unless set apart), which also takes the default sink's actions (actors.hosting.shard)."""
    if sinks.amqp_url is not None:
        return sinks
    return sinks.model_copy(
        update={
            "amqp_url": rabbitmq.url,
            "amqp_exchange": rabbitmq.actions_exchange,
            "amqp_dead_letters": rabbitmq.actions_dlq,
        }
    )
