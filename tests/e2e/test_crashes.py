"""Effectively-once under crashes: SIGKILL a shard's worker and an ingest replica in the
middle of a stream, and end with exactly what an undisturbed run ends with."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from typing import Any

import pytest
import ray
import redis
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from ray import serve

from actors.events import Event
from actors.keys import Keys
from actors.router import ShardRouter
from actors.slots import slot_of
from tests.conftest import App
from tests.kafka_support import TopicReader, produce
from training.synthetic import Behaviour

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

CUSTOMERS = 2000
EVENTS_PER_CUSTOMER = 10


START = time.time() - 3 * 86_400


def stream(prefix: str, seed: int = 5) -> list[Event]:
    """20,000 events of 2,000 customers; the same events for every prefix."""
    rng = random.Random(seed)
    behaviour = Behaviour(rng)
    start = START
    events: list[Event] = []
    for n in range(CUSTOMERS):
        traits = behaviour.traits(f"{prefix}{n:05d}")
        own: list[Event] = []
        at = start + rng.uniform(0, 3600)
        while len(own) < EVENTS_PER_CUSTOMER:
            own += behaviour.session(traits, at)
            at = own[-1].ts + rng.uniform(1800, 86_400)
        events += own[:EVENTS_PER_CUSTOMER]
    rng.shuffle(events)  # interleave customers; each customer's order is restored below
    events.sort(key=lambda e: e.ts)
    return events


def committed(app: App) -> int:
    """Records the ingest group has committed: progress that survives any kill."""
    kafka = app.kafka
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=kafka.group_id)
    try:
        tps = [TopicPartition(kafka.events_topic, p) for p in range(kafka.partitions)]
        return sum(consumer.committed(tp) or 0 for tp in tps)
    finally:
        consumer.close()


def states(app: App, prefix: str) -> dict[str, dict[str, Any]]:
    settings = app.settings
    keys = Keys(settings.redis.prefix)
    client = redis.Redis.from_url(settings.redis.url or "")
    try:
        out = {}
        for n in range(CUSTOMERS):
            cid = f"{prefix}{n:05d}"
            raw = client.hget(keys.state(slot_of(cid, settings.actors.slots), cid), "d")
            state = json.loads(raw) if raw else {}
            # Action ids derive from the customer id, which differs between the two runs.
            for record in state.get("recent_actions", []):
                record[0] = "<action id>"
            out[f"{n:05d}"] = state
        return out
    finally:
        client.close()


def wait_until_applied(app: App, prefix: str, timeout_s: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = states(app, prefix)
        done = sum(1 for s in found.values() if s.get("events_total") == EVENTS_PER_CUSTOMER)
        if done == CUSTOMERS or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def actions_of(app: App, prefix: str, at_least: int = 0) -> list[dict[str, Any]]:
    """Every action of the customers with `prefix` on the actions topic."""
    reader = TopicReader(app.kafka.bootstrap or "", app.kafka.actions_topic)
    try:
        reader.read_until(
            lambda rs: sum(r.key.decode().startswith(prefix) for r in rs) >= at_least, 120
        )
        reader.read_until_quiet(quiet_s=3.0)  # anything duplicated would arrive right behind
        return [v for v in reader.values() if v["customer_id"].startswith(prefix)]
    finally:
        reader.close()


def comparable(action: dict[str, Any], prefix: str) -> tuple[Any, ...]:
    return (
        action["customer_id"].removeprefix(prefix),
        action["rule_id"],
        action["trigger_event_id"],
        action["type"],
        action.get("offer_id"),
    )


def test_killing_a_shard_and_an_ingest_replica_loses_and_doubles_nothing(engage_app: App) -> None:
    settings = engage_app.settings
    # 1. an undisturbed run
    started = time.monotonic()
    produce(settings.kafka, stream("calm-"))
    calm_states = wait_until_applied(engage_app, "calm-", timeout_s=240)
    assert all(s.get("events_total") == EVENTS_PER_CUSTOMER for s in calm_states.values())
    print(f"undisturbed run applied everything in {time.monotonic() - started:.1f}s")

    # 2. the same events for other customers, with a shard and an ingest replica killed
    before = committed(engage_app)
    started = time.monotonic()
    produce(settings.kafka, stream("kill-"))
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    ingest = serve.get_deployment_handle("Ingest", app_name=settings.serve.app)
    killed = []
    deadline = time.monotonic() + 120
    while len(killed) < 2 and time.monotonic() < deadline:
        done = committed(engage_app) - before
        if not killed and done >= CUSTOMERS * EVENTS_PER_CUSTOMER * 0.2:
            os.kill(ray.get(router.handle(0).pid.remote()), signal.SIGKILL)
            killed.append("shard")
        elif len(killed) == 1 and done >= CUSTOMERS * EVENTS_PER_CUSTOMER * 0.5:
            os.kill(ingest.pid.remote().result(timeout_s=30), signal.SIGKILL)
            killed.append("ingest")
        time.sleep(0.1)
    assert killed == ["shard", "ingest"], "both kills happened mid-stream"
    kill_states = wait_until_applied(engage_app, "kill-", timeout_s=300)
    print(f"disturbed run applied everything in {time.monotonic() - started:.1f}s")

    # 3. the same final state for every customer
    differing = [k for k in calm_states if calm_states[k] != kill_states[k]]
    if differing:
        first = differing[0]
        calm, kill = calm_states[first], kill_states[first]
        diff = {
            k: (calm.get(k), kill.get(k))
            for k in set(calm) | set(kill)
            if calm.get(k) != kill.get(k)
        }
        pytest.fail(f"{len(differing)} customers differ; {first}: {diff}")

    # 4. every expected action exactly once
    calm_actions = actions_of(engage_app, "calm-")
    expected = sorted(comparable(a, "calm-") for a in calm_actions)
    assert len(expected) > 100
    kill_actions = actions_of(engage_app, "kill-", at_least=len(expected))
    got = sorted(comparable(a, "kill-") for a in kill_actions)
    assert len({a["idempotency_key"] for a in kill_actions}) == len(kill_actions), "no duplicates"
    assert got == expected
    router.close()
