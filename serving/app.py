"""Builds the Serve application: Api (ingress) → Scorer, Ingest; shards as Ray actors."""

from __future__ import annotations

from ray.serve import Application

from actors.brokers.base import Broker
from actors.config import ActorConfig, KafkaConfig, RedisConfig, SinkConfig
from actors.hosting.recipe import ShardRecipe
from serving.api import Api, ApiRecipe
from serving.config import ApiConfig, ServeConfig
from serving.embedded_scorer import EmbeddedScorerFactory
from serving.ingest import Ingest
from serving.scorer import Scorer
from serving.scorer_client import HandleScorerFactory


def build_app(
    namespace: str,
    actors: ActorConfig,
    redis_config: RedisConfig,
    broker: Broker,
    polling: KafkaConfig,
    sinks: SinkConfig,
    serve_config: ServeConfig,
    api: ApiConfig,
) -> Application:
    """The application on `broker`, whichever it is (actors.brokers.base)."""
    redis_url = redis_config.require_url()
    _ = broker.address  # raises ConfigError naming the setting when none is given
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
    shards = ShardRecipe(namespace, actors, redis_config, broker, sinks, scorer_factory)
    ingest = Ingest.options(num_replicas=serve_config.ingest_replicas).bind(  # type: ignore[attr-defined]
        shards, polling
    )
    recipe = ApiRecipe(namespace, actors, redis_config, broker, api)
    app: Application = Api.options(num_replicas=serve_config.api_replicas).bind(  # type: ignore[attr-defined]
        recipe, scorer, ingest
    )
    return app
