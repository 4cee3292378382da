"""Events per second through one customer shard, against one Ray actor per customer.

Both designs run the same turn (actors.turn.actor.CustomerActor with the shipped rules), score
with the same models through the same Ray actor, and save state to the same Redis with
the same compare-and-set script; only the hosting differs:

* shard: one CustomerShard Ray actor hosting every customer, one call per batch of 1,000
  events, one Redis pipeline per batch (what ingest does);
* naive: one Ray actor per customer, one call and one Redis write per event, all calls in
  flight at once (Ray runs each actor's calls in order).

Also measured: activations per second from Redis (load + deserialise, batches of 1,000).

    .venv/bin/python bench/actors_throughput.py [--customers 2000] [--naive-customers 128]

Target: the shard's event rate at least 20 times the naive design's. The last line
printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import ray

from actors.config import ActorConfig, KafkaConfig, RedisConfig, SinkConfig
from actors.hosting.router import ensure_slot_table
from actors.hosting.shard import CustomerShard
from actors.model.events import event_to_json, parse_event
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json, state_to_json
from actors.rules.ruleset import load_rules
from actors.storage.redis_store import RedisStateStore
from actors.storage.slots import slot_of
from actors.storage.store import Commit
from actors.turn.actor import CustomerActor
from actors.turn.scoring import Score
from engage.stack import start_redis
from training.pipeline import bootstrap_models
from training.registry import ModelRegistry
from training.synthetic import Behaviour


@ray.remote(num_cpus=0)
class ModelScorer:
    """The champion models in a plain Ray actor, shared by both designs."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        from serving.models import load_served

        registry = ModelRegistry(redis_url, prefix)
        self.models = {
            name: load_served(registry, name, registry.alias(name, "champion") or 0)
            for name in ("fraud", "recommender")
        }

    def score(self, model: str, rows: list[list[float]]) -> list[Score]:
        served = self.models[model]
        return [Score(model, served.version, v) for v in served.predict(rows)]


class ActorScorer:
    """The Scorer protocol over the ModelScorer actor."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        result: list[Score] = await self.handle.score.remote(model, [list(r) for r in rows])
        return result


class ScorerFactory:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __call__(self) -> ActorScorer:
        return ActorScorer(self.handle)


# One turn at a time, like any actor. (Ray's stubs lack max_concurrency.)
@ray.remote(num_cpus=0, max_concurrency=1)  # type: ignore[call-overload]
class NaiveCustomer:
    """One customer, one Ray actor: a turn and a Redis write per event."""

    def __init__(
        self, customer_id: str, redis_url: str, prefix: str, slots: int, scorer: Any
    ) -> None:
        self.customer_id = customer_id
        self.slot = slot_of(customer_id, slots)
        self.store = RedisStateStore(redis_url, prefix)
        self.actor = CustomerActor(load_rules(), ActorScorer(scorer))
        self.state: CustomerState | None = None

    async def handle(self, raw: bytes) -> int:
        if self.state is None:
            (loaded,) = await self.store.load_many([(self.slot, self.customer_id)])
            self.state = state_from_json(loaded.data) if loaded.data else CustomerState()
            self.state.version = loaded.version
        outcome = await self.actor.on_event(self.customer_id, self.state, parse_event(raw))
        if outcome.duplicate:
            return 0
        commit = Commit(self.slot, self.customer_id, self.state.version, state_to_json(self.state))
        (version,) = await self.store.commit_many([commit])
        assert version is not None
        self.state.version = version
        return len(outcome.actions)

    def ready(self) -> bool:
        return True


def make_events(prefix: str, customers: int, per_customer: int = 10) -> list[bytes]:
    rng = random.Random(3)
    behaviour = Behaviour(rng)
    start = time.time() - 86_400
    events = []
    for n in range(customers):
        traits = behaviour.traits(f"{prefix}{n:06d}")
        own: list[Any] = []
        at = start + rng.uniform(0, 3600)
        while len(own) < per_customer:
            own += behaviour.session(traits, at)
            at = own[-1].ts + rng.uniform(1800, 7200)
        events += own[:per_customer]
    events.sort(key=lambda e: e.ts)
    return [event_to_json(e) for e in events]


def run_shard(redis: RedisConfig, scorer: Any, customers: int) -> dict[str, float]:
    config = ActorConfig(shards=1, slots=64)
    ensure_slot_table(redis, config)
    shard = CustomerShard.options(num_cpus=0).remote(  # type: ignore[attr-defined]
        0, config, redis, KafkaConfig(), SinkConfig(), ScorerFactory(scorer)
    )
    ray.get(shard.ping.remote())
    events = make_events("s", customers)
    ray.get(shard.process.remote(events[:200]))  # warm up: models, connections
    started = time.perf_counter()
    processed = 0
    for i in range(200, len(events), 1000):
        result = ray.get(shard.process.remote(events[i : i + 1000]))
        processed += result.processed
    elapsed = time.perf_counter() - started
    info = ray.get(shard.introspect.remote())
    ray.kill(shard)
    return {
        "shard_events_per_s": processed / elapsed,
        "shard_events": processed,
        "shard_live_customers": info["live_customers"],
        "shard_turn_ms_p99": info["turn_ms_p99"],
    }


def run_naive(redis: RedisConfig, scorer: Any, customers: int) -> dict[str, float]:
    started_actors = time.perf_counter()
    events = make_events("n", customers)
    ids = sorted({parse_event(raw).actor_id for raw in events})
    handles = {
        cid: NaiveCustomer.remote(cid, redis.url, redis.prefix, 64, scorer)  # type: ignore[attr-defined]
        for cid in ids
    }
    ray.get([h.ready.remote() for h in handles.values()])
    startup = time.perf_counter() - started_actors
    print(f"naive: {len(handles)} actors started in {startup:.0f}s", file=sys.stderr)
    warm = [parse_event(raw).actor_id for raw in events[:50]]
    ray.get([handles[cid].handle.remote(raw) for cid, raw in zip(warm, events[:50], strict=True)])
    started = time.perf_counter()
    refs = [handles[parse_event(raw).actor_id].handle.remote(raw) for raw in events[50:]]
    ray.get(refs)
    elapsed = time.perf_counter() - started
    for handle in handles.values():
        ray.kill(handle)
    return {
        "naive_events_per_s": len(refs) / elapsed,
        "naive_events": len(refs),
        "naive_customers": len(handles),
        "naive_actor_starts_per_s": len(handles) / startup,
    }


async def activations(redis: RedisConfig, customers: int) -> float:
    store = RedisStateStore(redis.url or "", redis.prefix)
    ids = [(slot_of(f"s{n:06d}", 64), f"s{n:06d}") for n in range(customers)]
    started = time.perf_counter()
    loaded = 0
    for i in range(0, len(ids), 1000):
        for stored in await store.load_many(ids[i : i + 1000]):
            if stored.data:
                state_from_json(stored.data)
                loaded += 1
    elapsed = time.perf_counter() - started
    await store.close()
    return loaded / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--naive-customers", type=int, default=200)
    args = parser.parse_args()
    server = start_redis()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        redis = RedisConfig(url=url, prefix="bench")
        registry = ModelRegistry(url, "bench")
        bootstrap_models(registry, customers=500, days=45)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        scorer = ModelScorer.remote(url, "bench")  # type: ignore[attr-defined]
        shard = run_shard(redis, scorer, args.customers)
        print(f"shard: {shard['shard_events_per_s']:,.0f} events/s", file=sys.stderr)
        naive = run_naive(redis, scorer, args.naive_customers)
        print(f"naive: {naive['naive_events_per_s']:,.0f} events/s", file=sys.stderr)
        per_s = asyncio.run(activations(redis, args.customers))
        ray.shutdown()
    finally:
        server.stop()
    figures = {
        "benchmark": "actors_throughput",
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in {**shard, **naive}.items()},
        "ratio": round(shard["shard_events_per_s"] / naive["naive_events_per_s"], 2),
        "activations_per_s": round(per_s, 1),
        "target_ratio": 20,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
