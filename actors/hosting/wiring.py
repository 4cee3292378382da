"""A shard's parts assembled from its recipe, without Ray (actors.hosting.shard wraps them).

Which sinks a shard has: the event broker's actions stream as the default sink (rules'
`sink: kafka`, whatever the broker), rules' `sink: amqp` when `ENGAGE_SINKS_AMQP_URL` is
set, webhook and e-mail when configured, the log, and the decision log (`engage.decisions`).
Actions that cannot be delivered go to the broker's actions dead letters: never to memory,
where they would be lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from actors.brokers.amqp_sink import AmqpSink
from actors.campaigns.rules_store import RulesStore
from actors.catalog.follower import CatalogFollower
from actors.catalog.store import CatalogStore
from actors.config import SinkConfig
from actors.delivery.guardrails import Guardrails, RedisGuardrailStore
from actors.delivery.idempotency import RedisIdempotencyStore
from actors.delivery.mail.suppressions import RedisSuppressions
from actors.delivery.outbox import Dispatcher
from actors.delivery.sinks import build_sinks
from actors.delivery.sinks.base import Sink
from actors.hosting.host import ShardHost
from actors.hosting.recipe import ShardRecipe
from actors.rules.emails import EmailTemplate
from actors.rules.source import RulesFile
from actors.storage.redis_store import RedisStateStore
from actors.turn.actor import CustomerActor
from actors.turn.scoring import CoalescingScorer

DEFAULT_SINK = "kafka"
DECISIONS_SINK = "decisions"


@dataclass
class ShardParts:
    store: RedisStateStore
    rules_file: RulesFile
    scorer: CoalescingScorer
    dispatcher: Dispatcher
    host: ShardHost
    catalog: CatalogFollower
    rules_store: RulesStore


def shard_sinks(
    recipe: ShardRecipe, templates: Callable[[], Mapping[str, EmailTemplate]] = dict
) -> dict[str, Sink]:
    sinks = build_sinks(recipe.sinks, templates)
    sinks[DEFAULT_SINK] = recipe.broker.action_sink()
    # Decision records (actors.turn.decision_log) have a lane of their own: a slow log
    # holds back no action.
    sinks[DECISIONS_SINK] = recipe.broker.decision_sink()
    if recipe.sinks.amqp_url is not None:
        sinks["amqp"] = amqp_sink(recipe.sinks)
    return sinks


def amqp_sink(config: SinkConfig) -> AmqpSink:
    assert config.amqp_url is not None, "asked for only when configured"
    return AmqpSink(
        config.amqp_url.get_secret_value(),
        exchange=config.amqp_exchange,
        log_stream=config.amqp_log_stream,
        log_max_age=config.amqp_log_max_age,
        timeout_s=config.amqp_timeout_s,
    )


def build_shard(
    shard_id: int, recipe: ShardRecipe, clock: Callable[[], float] = time.time
) -> ShardParts:
    actors = recipe.actors
    redis = recipe.redis
    store = RedisStateStore(redis.require_url(), redis.prefix, redis.socket_timeout_s)
    rules_file = RulesFile(actors.rules_file)
    scorer = CoalescingScorer(recipe.scorer_factory(), timeout_s=actors.score_timeout_s)
    catalog = CatalogFollower(CatalogStore.connect(redis.require_url(), redis.prefix))
    actor = CustomerActor(rules_file.rules, scorer, trace=actors.trace_turns > 0, catalog=catalog)
    dispatcher = Dispatcher(
        shard_sinks(recipe, lambda: actor.rules.emails),
        RedisIdempotencyStore(store.redis, store.keys),
        store,
        recipe.broker.action_dead_letters(),
        Guardrails(
            RedisGuardrailStore(store.redis, store.keys),
            lambda: actor.rules.policy,
            actors.slots,
            clock,
            RedisSuppressions(store.redis, store.keys.email_suppressions()),
        ),
        queue_size=actors.sink_queue_size,
        max_deferred=actors.max_deferred_actions,
        max_attempts=recipe.sinks.max_attempts,
        base_backoff_s=recipe.sinks.base_backoff_s,
        trace_keep=actors.trace_turns,
        trace_ttl_s=actors.trace_retention_s,
    )
    host = ShardHost(shard_id, actors, store, actor, dispatcher)
    rules_store = RulesStore.connect(redis.require_url(), redis.prefix)
    return ShardParts(store, rules_file, scorer, dispatcher, host, catalog, rules_store)
