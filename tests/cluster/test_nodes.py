"""Nodes that come and go: a head and two workers on one machine (ray.cluster_utils).

A worker node is removed in the middle of a stream, its shard's slots move to the
surviving shards, and its customers re-activate from Redis elsewhere; then a node is
added and the shards are scaled out onto it, live. Every event is applied exactly once
and no action is lost or doubled.

Runs in its own pytest process (`-m cluster`): it needs a Ray cluster of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import redis
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from ray import serve
from ray.cluster_utils import Cluster
from ray.util.state import list_actors

from actors.brokers.kafka import ensure_topics
from actors.campaigns.rules_store import RulesStore
from actors.config import ActorConfig, KafkaConfig, RedisConfig
from actors.hosting.router import ShardRouter
from actors.hosting.supervisor import supervisor_name
from actors.storage.keys import Keys
from actors.storage.slots import slot_of
from engage.processes import free_port
from engage.runtime import deploy
from engage.settings import RayConfig, Settings
from serving.config import ServeConfig
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event
from training.pipeline import ensure_models
from training.registry import ModelRegistry

# A cluster of its own starts and stops within the test.
pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(1800)]

CUSTOMERS = 300
PER_CUSTOMER = 10


@pytest.fixture(scope="module")
def cluster(bootstrap: str, redis_url: str, fast_rules: str) -> Iterator[tuple[Cluster, Settings]]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        namespace="engage-cluster",
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    prefix = "nodes"
    settings = Settings(
        kafka=KafkaConfig(
            bootstrap=bootstrap,
            events_topic=f"{prefix}.events",
            events_dlq_topic=f"{prefix}.events.dlq",
            actions_topic=f"{prefix}.actions",
            actions_dlq_topic=f"{prefix}.actions.dlq",
            decisions_topic=f"{prefix}.decisions",
            catalog_topic=f"{prefix}.catalog",
            group_id=f"{prefix}-ingest",
        ),
        redis=RedisConfig(url=redis_url, prefix=prefix),
        ray=RayConfig(namespace="engage-cluster"),
        actors=ActorConfig(
            shards=3,
            slots=64,
            rules_file=fast_rules,
            outbox_recovery_s=1.0,
            # A departed node never releases its slots: its new owners wait this long.
            handover_grace_s=10.0,
        ),
        serve=ServeConfig(port=free_port(), app=prefix),
    )
    ensure_topics(settings.kafka)
    registry = ModelRegistry(redis_url, prefix)
    ensure_models(registry, customers=500, days=45)
    registry.close()
    serve.start(
        proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": settings.serve.port}
    )
    deploy(settings)
    yield cluster, settings
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    cluster.shutdown()  # type: ignore[no-untyped-call]


def committed(kafka: KafkaConfig) -> int:
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=kafka.group_id)
    try:
        tps = [TopicPartition(kafka.events_topic, p) for p in range(kafka.partitions)]
        return sum(consumer.committed(tp) or 0 for tp in tps)
    finally:
        consumer.close()


def stream(prefix: str) -> list[Any]:
    now = time.time() - 3600
    return [
        event(
            "product_view",
            customer=f"{prefix}{c:04d}",
            product_id=f"p{i}",
            category=("electronics", "sports", "books")[c % 3],
            at=now + i * 60,
        )
        for i in range(PER_CUSTOMER)
        for c in range(CUSTOMERS)
    ]


def applied(settings: Settings, prefix: str, timeout_s: float = 180) -> list[int]:
    client = redis.Redis.from_url(settings.redis.url or "")
    keys = Keys(settings.redis.prefix)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            totals = []
            for c in range(CUSTOMERS):
                cid = f"{prefix}{c:04d}"
                raw = client.hget(keys.state(slot_of(cid, settings.actors.slots), cid), "d")
                totals.append(json.loads(raw)["events_total"] if raw else 0)
            if all(t == PER_CUSTOMER for t in totals) or time.monotonic() > deadline:
                return totals
            time.sleep(1.0)
    finally:
        client.close()


def check_actions(settings: Settings, prefix: str) -> None:
    """Each idempotency key once on the topic, no dead letter, no pending action left."""
    expected = {f"{prefix}{c:04d}" for c in range(CUSTOMERS)}

    def offered(records: list[Any]) -> set[str]:
        actions = (json.loads(r.value) for r in records)
        return {a["customer_id"] for a in actions if a["rule_id"] == "browse_offer"}

    reader = TopicReader(settings.kafka.bootstrap or "", settings.kafka.actions_topic)
    try:
        # Actions a departed node's shard had begun are delivered by the slot's new owner
        # after a grace period: wait for them (or fail naming the time), then for quiet,
        # so that a copy arriving late is still seen.
        with contextlib.suppress(TimeoutError):
            reader.read_until(lambda records: expected <= offered(records), timeout_s=90)
        reader.read_until_quiet(quiet_s=4.0)
        mine = [v for v in reader.values() if v["customer_id"].startswith(prefix)]
    finally:
        reader.close()
    keys = [a["idempotency_key"] for a in mine]
    assert len(keys) == len(set(keys)), "no action doubled"
    # Every customer browsed one category ten times in a session: one offer each.
    assert sorted(a["customer_id"] for a in mine if a["rule_id"] == "browse_offer") == [
        f"{prefix}{c:04d}" for c in range(CUSTOMERS)
    ], "no action lost"
    # An action the departed shard delivered but had not yet cleared stays in the outbox
    # until the slot's new owner, after the handover grace (the old owner never says it let
    # go), finds it on the sink and clears it: wait for that, not for a fixed time.
    client = redis.Redis.from_url(settings.redis.url or "")
    outbox = Keys(settings.redis.prefix).outbox
    try:
        eventually(
            lambda: sum(client.hlen(outbox(s)) for s in range(settings.actors.slots)) == 0,
            timeout_s=settings.actors.handover_grace_s + 60,
            what="no pending action left in the outbox",
            interval_s=1.0,
        )
    finally:
        client.close()


def shard_nodes(settings: Settings) -> dict[int, str]:
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    try:
        table = router.refresh(force=True)
        return {s: ray.get(router.handle(s).introspect.remote())["node_id"] for s in table.shards}
    finally:
        router.close()


def run_with(settings: Settings, prefix: str, disturb: Any) -> None:
    before = committed(settings.kafka)
    produce(settings.kafka, stream(prefix))
    deadline = time.monotonic() + 120
    while committed(settings.kafka) - before < CUSTOMERS * PER_CUSTOMER * 0.25:
        assert time.monotonic() < deadline, "the stream never started"
        time.sleep(0.2)
    disturb()
    assert applied(settings, prefix) == [PER_CUSTOMER] * CUSTOMERS, (
        "every event applied exactly once"
    )
    check_actions(settings, prefix)


def test_shards_spread_a_node_leaves_and_a_node_joins(cluster: tuple[Cluster, Settings]) -> None:
    ray_cluster, settings = cluster
    placed = shard_nodes(settings)
    assert len(set(placed.values())) == 3, "one shard per node"
    supervisor = ray.get_actor(
        supervisor_name(settings.redis.prefix), namespace=settings.ray.namespace
    )
    assert ray_cluster.head_node is not None
    head = ray_cluster.head_node.node_id
    victim_shard, victim_node = next((s, n) for s, n in placed.items() if n != head)
    # Supervision lives on the head: a worker leaving takes no count of lost shards with it.
    (found,) = list_actors(
        filters=[("name", "=", supervisor_name(settings.redis.prefix)), ("state", "=", "ALIVE")]
    )
    assert found.node_id == head
    victim = next(n for n in ray_cluster.worker_nodes if n.node_id == victim_node)

    # 1. A worker node leaves in the middle of a stream.
    run_with(settings, "gone-", lambda: ray_cluster.remove_node(victim))
    status: dict[str, Any] = ray.get(supervisor.status.remote())
    assert victim_shard in status["lost"]
    assert victim_shard not in status["shards"]
    assert len(status["shards"]) == 2

    # 2. A node joins and the shards scale out onto it, live.
    joined = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    result: dict[str, Any] = {}
    run_with(settings, "grow-", lambda: result.update(ray.get(supervisor.scale.remote(3))))
    assert len(result["added"]) == 1
    placed = shard_nodes(settings)
    assert placed[result["added"][0]] == joined.node_id
    assert len(placed) == 3

    # 3. A rules version pushed once is in force on every shard, on every node.
    rules = RulesStore.connect(settings.redis.url or "", settings.redis.prefix)
    text = Path(settings.actors.rules_file or "").read_text()
    pushed, _ = rules.push(text + "\n# pushed to every node\n", by="test", comment="cluster")
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    try:

        def versions() -> set[int]:
            table = router.refresh(force=True)
            found = [ray.get(router.handle(s).introspect.remote()) for s in table.shards]
            return {info["rules"]["version"] for info in found}

        eventually(lambda: versions() == {pushed.version}, 30, "every shard on the new rules")
    finally:
        router.close()
