"""Where a shard's CPU goes, stage by stage, in microseconds per event.

Runs one `ShardHost` in this process, wired as a `CustomerShard` wires it (Redis state
store, outbox dispatcher with guardrails, the Kafka sink on the embedded broker, the
shipped rules without quiet hours and holdouts, the registry's models scored in
process), over a backlog of realistic sessions in batches of 1,000, under cProfile. Each
function's own time is charged to the stage its module belongs to (parse, apply,
features, rules, scoring, commit and Redis, outbox, send, asyncio); the profiler's
overhead is taken out by scaling the stages to the wall time of an unprofiled run of the
same backlog in the same process.

    .venv/bin/python bench/shard_profile.py [--events 30000]

What this leaves out, measured in the running system instead (docs/benchmarks.md): the
Ray call that carries each batch, ingest's own work, and the broker's and Redis's CPU.
The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import time
import uuid
from collections import Counter
from typing import Any

import yaml

from actors.brokers.dead_letters import KafkaDeadLetters
from actors.brokers.kafka import ensure_topics, make_producer
from actors.brokers.kafka_sink import KafkaSink
from actors.config import ActorConfig, KafkaConfig
from actors.delivery.guardrails import Guardrails, RedisGuardrailStore
from actors.delivery.idempotency import RedisIdempotencyStore
from actors.delivery.outbox import Dispatcher
from actors.hosting.host import ShardHost
from actors.model.events import event_to_json
from actors.rules.ruleset import parse_rules
from actors.storage.redis_store import RedisStateStore
from actors.turn.actor import CustomerActor
from actors.turn.scoring import CoalescingScorer
from engage.chaos.rules import deterministic_rules
from engage.stack import start_broker, start_redis
from serving.embedded_scorer import EmbeddedScorer
from serving.watcher import ModelWatcher
from training.live_traffic import LiveTraffic
from training.pipeline import ensure_models
from training.registry import ModelRegistry

# Stage of a profiled function, by the first matching fragment of its file path.
STAGES: list[tuple[str, str]] = [
    ("actors/model/events.py", "parse"),
    ("pydantic", "parse"),
    ("actors/model/state.py", "apply"),
    ("actors/model/features.py", "features"),
    ("actors/turn/offers.py", "features"),
    ("actors/turn/prefetch.py", "prefetch"),
    ("actors/rules/conditions.py", "rules"),
    ("actors/rules/ruleset.py", "rules"),
    ("actors/rules/context.py", "rules"),
    ("actors/rules/templates.py", "rules"),
    ("actors/turn/actor.py", "rules"),
    ("actors/model/actions.py", "rules"),
    ("actors/outcomes/attribution.py", "rules"),
    ("serving/", "scoring"),
    ("actors/turn/scoring.py", "scoring"),
    ("numpy", "scoring"),
    ("sklearn", "scoring"),
    ("actors/storage/store.py", "commit"),
    ("redis", "commit"),
    ("hiredis", "commit"),
    ("actors/delivery/outbox.py", "outbox"),
    ("actors/delivery/guardrails.py", "outbox"),
    ("actors/delivery/sinks/", "send"),
    ("kafka", "send"),
    ("actors/hosting/host.py", "host"),
    ("actors/hosting/residency.py", "host"),
    ("asyncio", "asyncio"),
    ("selectors", "asyncio"),
    ("threading", "send"),
    ("orjson", "apply"),
]


def stage_of(path: str, name: str) -> str:
    if path == "~":  # a builtin: charge it by what it is
        if "orjson" in name or "json" in name:
            return "apply"
        if "select" in name or "poll" in name or "epoll" in name:
            return "asyncio"
        return "builtins"
    for fragment, stage in STAGES:
        if fragment in path:
            return stage
    return "other"


def build(redis_url: str, bootstrap: str, prefix: str) -> tuple[ShardHost, Dispatcher]:
    config = ActorConfig(shards=1, slots=64)
    kafka = KafkaConfig(
        bootstrap=bootstrap,
        events_topic=f"{prefix}.events",
        events_dlq_topic=f"{prefix}.events.dlq",
        actions_topic=f"{prefix}.actions",
        actions_dlq_topic=f"{prefix}.actions.dlq",
        decisions_topic=f"{prefix}.decisions",
        catalog_topic=f"{prefix}.catalog",
    )
    ensure_topics(kafka)
    store = RedisStateStore(redis_url, prefix)
    producer = make_producer(kafka)
    # The shipped rules less quiet hours and holdouts, which depend on the hour and the
    # customer id (and would leave deferred actions waiting when this runs at night).
    rules = parse_rules(yaml.safe_dump(deterministic_rules()), "deterministic")
    actor = CustomerActor(
        rules, CoalescingScorer(EmbeddedScorer(ModelWatcher(redis_url, prefix, 60.0)))
    )
    dispatcher = Dispatcher(
        {"kafka": KafkaSink(producer, kafka.actions_topic, kafka)},
        RedisIdempotencyStore(store.redis, store.keys),
        store,
        KafkaDeadLetters(producer, kafka.events_dlq_topic, kafka.actions_dlq_topic),
        Guardrails(
            RedisGuardrailStore(store.redis, store.keys),
            lambda: actor.rules.policy,
            config.slots,
            time.time,
        ),
    )
    host = ShardHost(0, config, store, actor, dispatcher)
    host.set_owned_slots(set(range(config.slots)))
    return host, dispatcher


async def run(host: ShardHost, dispatcher: Dispatcher, batches: list[list[bytes]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        await host.process(batch)
    await dispatcher.drain(120.0)
    return time.perf_counter() - started


def backlog(events: int, customers: int, seed: int) -> list[list[bytes]]:
    traffic = LiveTraffic(customers=customers, seed=seed)
    raw: list[bytes] = []
    while len(raw) < events:
        raw += [event_to_json(e) for e in traffic.next_session(time.time())]
    raw = raw[:events]
    return [raw[i : i + 1000] for i in range(0, len(raw), 1000)]


async def main_async(args: argparse.Namespace, redis_url: str, bootstrap: str) -> dict[str, Any]:
    prefix = f"prof{uuid.uuid4().hex[:6]}"
    registry = ModelRegistry(redis_url, prefix)
    ensure_models(registry, customers=500, days=45)
    registry.close()
    host, dispatcher = build(redis_url, bootstrap, prefix)
    dispatcher.start()
    await run(host, dispatcher, backlog(2000, 5000, 1))  # warm up: models, connections
    plain, profiled = backlog(args.events, 5000, 2), backlog(args.events, 5000, 3)
    plain_s = await run(host, dispatcher, plain)
    # The same again without decision traces (ENGAGE_ACTORS_TRACE_TURNS=0): their cost.
    traced = host.config
    host.config = traced.model_copy(update={"trace_turns": 0})
    host.actor.trace = False
    untraced_s = await run(host, dispatcher, backlog(args.events, 5000, 4))
    host.config, host.actor.trace = traced, True
    profiler = cProfile.Profile()
    profiler.enable()
    profiled_s = await run(host, dispatcher, profiled)
    profiler.disable()
    await dispatcher.stop()
    stats = pstats.Stats(profiler)
    own: Counter[str] = Counter()
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        own[stage_of(path, name)] += row[2]  # tottime: the function's own time
    total = sum(own.values())
    scale = plain_s / total if total else 0.0
    per_event = {stage: round(t * scale / args.events * 1e6, 1) for stage, t in own.most_common()}
    if args.show_unattributed:
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
        for (path, line, name), row in rows[:200]:
            if stage_of(path, name) in ("builtins", "other"):
                us = row[2] * scale / args.events * 1e6
                print(f"    {us:6.2f} µs  {path}:{line} {name}", file=sys.stderr)
    print(f"unprofiled: {args.events / plain_s:,.0f} events/s in one shard", file=sys.stderr)
    trace_cost = (plain_s - untraced_s) / untraced_s * 100
    print(
        f"without decision traces: {args.events / untraced_s:,.0f} events/s"
        f" (traces cost {trace_cost:.1f}%)",
        file=sys.stderr,
    )
    for stage, us in per_event.items():
        print(f"  {stage:10s} {us:8.1f} µs/event", file=sys.stderr)
    return {
        "benchmark": "shard_profile",
        "events": args.events,
        "events_per_s": round(args.events / plain_s, 1),
        "us_per_event": round(plain_s / args.events * 1e6, 1),
        "profiler_overhead": round(profiled_s / plain_s, 2),
        "events_per_s_without_traces": round(args.events / untraced_s, 1),
        "trace_cost_pct": round(trace_cost, 1),
        "stages_us_per_event": per_event,
        "scores_prefetched": host.stats["scores_prefetched"],
        "scores_rescored": host.stats["scores_rescored"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--show-unattributed", action="store_true")
    args = parser.parse_args()
    redis_server, broker = start_redis(), start_broker()
    try:
        figures = asyncio.run(
            main_async(args, f"redis://127.0.0.1:{redis_server.port}/0", f"127.0.0.1:{broker.port}")
        )
    finally:
        broker.stop()
        redis_server.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
