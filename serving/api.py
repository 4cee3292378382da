"""The HTTP API on Ray Serve: `serving.web`'s application with the live backends.

Reads go to the customer's shard (which activates the customer from Redis if needed), to
Redis and to the models; writes go to Kafka and are answered once the broker has them.
The routes themselves, the keys and the error envelope are in `serving.web`, which does not
need Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from ray import serve

from actors.brokers.base import Broker
from actors.campaigns.audiences import AudienceStore
from actors.campaigns.rules_follower import RulesFollower
from actors.campaigns.rules_store import RulesStore
from actors.catalog.feed import CatalogFeed
from actors.catalog.follower import CatalogFollower
from actors.catalog.store import CatalogStore
from actors.config import ActorConfig, RedisConfig
from actors.delivery.guardrails import RedisGuardrailStore
from actors.delivery.mail.suppressions import RedisSuppressions
from actors.errors import EngageError
from actors.gc_tuning import tune_gc
from actors.hosting.router import ShardRouter
from actors.logs import configure as configure_logs
from actors.model.model_names import RECOMMENDER
from actors.outcomes.reports import read_counters
from actors.rules.source import RulesFile
from actors.storage.keys import Keys
from actors.storage.redis_store import RedisStateStore
from actors.turn.scoring import Score
from serving.config import ApiConfig
from serving.figures import ingest_figures
from serving.model_set import score_batch
from serving.publisher import BrokerEvents
from serving.refusals import Refusal, RefusalStore
from serving.series import RedisSeries, feature_series
from serving.watcher import ModelWatcher
from serving.web.app import create_app
from serving.web.backends import Backends
from training.registry import ModelRegistry


class WatcherRecommender:
    """Next-best-offer scores in the API replica, with the same champion the Scorer
    deployment serves and the same swap: a Serve hop less (about 6 ms on 2 cores) per
    query."""

    def __init__(self, watcher: ModelWatcher) -> None:
        self.watcher = watcher

    def recommend(self, row: list[float]) -> Score:
        answers, shadow = score_batch(self.watcher.models, [(RECOMMENDER, [row])])
        if shadow:
            self.watcher.log_shadow(shadow)
        answer = answers[0]
        if isinstance(answer, EngageError):
            raise answer
        return answer[0]


class HandleStatus:
    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer  # the Scorer deployment's handle

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = await self.scorer.status.remote()
        return status


class RedisFigures:
    def __init__(self, redis_config: RedisConfig, slots: int) -> None:
        self.url = redis_config.require_url()
        self.prefix = redis_config.prefix
        self.slots = slots
        self.audiences = AudienceStore.connect(self.url, self.prefix, slots)

    def ingest(self) -> list[dict[str, Any]]:
        return ingest_figures(self.url, self.prefix)

    def counters(self) -> dict[str, int]:
        return read_counters(self.url, self.prefix, range(self.slots))

    def segments(self, names: Sequence[str]) -> dict[str, int]:
        return self.audiences.counts(names)


@dataclass(frozen=True)
class ApiRecipe:
    """What an API replica is made of, named once (built from the settings)."""

    namespace: str
    actors: ActorConfig
    redis: RedisConfig
    broker: Broker
    api: ApiConfig


def live_backends(recipe: ApiRecipe, scorer: Any) -> Backends:
    actors, redis_config, api = recipe.actors, recipe.redis, recipe.api
    url = redis_config.require_url()
    catalog_store = CatalogStore.connect(url, redis_config.prefix)
    rules_store = RulesStore.connect(url, redis_config.prefix)
    # The rules as the shards run them: the version in force, or the file.
    rules = RulesFollower(rules_store, RulesFile(actors.rules_file), lambda _: None)
    states = RedisStateStore(url, redis_config.prefix)
    backends = Backends(
        config=api,
        event_time=actors.event_time_bounds(),
        slots=actors.slots,
        publisher=BrokerEvents(recipe.broker.publisher()),
        shards=ShardRouter(recipe.namespace, actors, redis_config),
        # The customer's committed state straight from Redis: a shard acks a batch only
        # once its state is saved, so this is every acknowledged event, without a Ray call
        # to the shard (about 3 ms per query).
        states=states,
        guards=RedisGuardrailStore(states.redis, Keys(redis_config.prefix)),
        recommender=WatcherRecommender(ModelWatcher(url, redis_config.prefix)),
        registry=ModelRegistry(url, redis_config.prefix),
        scorer=HandleStatus(scorer),
        figures=RedisFigures(redis_config, actors.slots),
        ruleset=lambda: rules.rules,
        rules=rules,
        rules_store=rules_store,
        rules_poll_s=actors.rules_reload_s,
        series=RedisSeries(url, redis_config.prefix),
        feature_series=feature_series(url, redis_config.prefix, api.feature_sample_s),
        catalog=CatalogFollower(catalog_store),
        catalog_store=catalog_store,
        catalog_poll_s=actors.catalog_poll_s,
        refusal_store=RefusalStore(url, redis_config.prefix),
        suppressions=RedisSuppressions(
            states.redis, Keys(redis_config.prefix).email_suppressions()
        ),
    )
    if api.catalog_feed:
        backends.catalog_feed = CatalogFeed(
            recipe.broker.catalog_feed,
            catalog_store,
            lambda refused: backends.refusals.record(
                [Refusal("catalog_feed", refused.field, refused.reason)], refused.raw, refused.where
            ),
            recipe.broker.name,
        )
    return backends


@serve.deployment(name="Api", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=500)
@serve.ingress()
class Api:
    """The ingress: builds its application in the replica, after the backends (Serve
    calls `__serve_build_asgi_app__` once `__init__` is done). An application given to
    `serve.ingress` at import time would be a frozen copy, out of reach of `__init__`."""

    def __init__(self, recipe: ApiRecipe, scorer: Any, ingest: Any) -> None:
        configure_logs(kafka_level=recipe.broker.client_log_level)
        self.backends = live_backends(recipe, scorer)
        self.ingest = ingest  # bound so Serve deploys it with the API
        tune_gc()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.backends)
