"""The ingest loop on a real broker: offsets committed only after shards ack, and a
consumer group shared by several ingest replicas that come and go."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
import redis
from kafka.structs import TopicPartition

from actors.brokers.dead_letters import KafkaDeadLetters
from actors.brokers.kafka import KafkaEventsConsumer, ensure_topics, make_consumer, make_producer
from actors.config import KafkaConfig
from actors.errors import ShardUnavailableError
from actors.hosting.batch import BatchResult
from actors.hosting.router import ShardRouter
from actors.ingest import IngestLoop
from actors.model.events import event_to_json
from actors.storage.keys import Keys
from actors.storage.slots import slot_of
from tests.conftest import App
from tests.kafka_support import produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


class FlakyShards:
    """Acks nothing until told to: the loop must not commit meanwhile."""

    def __init__(self) -> None:
        self.healthy = False
        self.seen = 0

    def refresh(self, force: bool = False) -> None:
        return None

    def shard_for(self, customer_id: str) -> int:
        return 0

    def process(
        self,
        batches: Mapping[int, list[bytes]],
        positions: object = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        if not self.healthy:
            return {0: ShardUnavailableError(0, "down")}
        self.seen += len(batches[0])
        return {0: BatchResult(processed=len(batches[0]))}


def committed(kafka: KafkaConfig) -> int:
    consumer = make_consumer(kafka)
    try:
        tps = [TopicPartition(kafka.events_topic, p) for p in range(kafka.partitions)]
        return sum(consumer.committed(tp) or 0 for tp in tps)
    finally:
        consumer.close()


def test_offsets_are_committed_only_after_every_shard_acked(kafka_config: KafkaConfig) -> None:
    ensure_topics(kafka_config)
    produce(kafka_config, [event("page_view", customer=f"c{i}", at=time.time()) for i in range(20)])
    shards = FlakyShards()
    consumer = KafkaEventsConsumer(kafka_config)
    producer = make_producer(kafka_config)
    loop = IngestLoop(
        consumer,
        shards,
        KafkaDeadLetters(producer, kafka_config.events_dlq_topic, kafka_config.actions_dlq_topic),
        max_backoff_s=0.2,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while loop.stats.shard_retries < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert loop.stats.shard_retries >= 3, "the loop kept retrying the unacked batch"
        assert committed(kafka_config) == 0
        shards.healthy = True
        while loop.stats.processed < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        while committed(kafka_config) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert committed(kafka_config) == 20
        assert shards.seen == 20
    finally:
        loop.stop()
        thread.join(timeout=30)
        consumer.close()
        producer.close()


def test_ingest_replicas_share_the_partitions_and_hand_them_over(engage_app: App) -> None:
    settings = engage_app.settings
    customers = [f"grp-{uuid.uuid4().hex[:6]}-{n}" for n in range(300)]
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    # A second ingest replica, in this process, in the application's consumer group.
    consumer = KafkaEventsConsumer(settings.kafka)
    producer = make_producer(settings.kafka)
    second = IngestLoop(
        consumer,
        router,
        KafkaDeadLetters(
            producer, settings.kafka.events_dlq_topic, settings.kafka.actions_dlq_topic
        ),
        lag_every_s=0.5,
    )
    thread = threading.Thread(target=second.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not second.stats.assignment and time.monotonic() < deadline:
        time.sleep(0.2)
    assigned = list(second.stats.assignment)
    now = time.time()
    for round_ in range(10):
        produce(
            settings.kafka, [event("page_view", customer=c, at=now + round_) for c in customers]
        )
        if round_ == 4:
            # This replica leaves mid-stream; its partitions go back to the other one.
            second.stop()
            thread.join(timeout=30)
            consumer.close()
    client = redis.Redis.from_url(settings.redis.url or "")
    keys = Keys(settings.redis.prefix)
    try:
        totals: list[int] = []
        while time.monotonic() < deadline + 60:
            totals = []
            for c in customers:
                raw = client.hget(keys.state(slot_of(c, settings.actors.slots), c), "d")
                totals.append(json.loads(raw)["events_total"] if raw else 0)
            if all(t == 10 for t in totals):
                break
            time.sleep(1.0)
    finally:
        client.close()
        producer.close()
        router.close()
    assert assigned, "the second replica got partitions"
    assert 0 < len(assigned) < settings.kafka.partitions, "the partitions were shared"
    assert second.stats.processed > 0
    assert totals == [10] * len(customers), "every event applied exactly once"


def test_a_steady_trickle_is_never_held_up(engage_app: App) -> None:
    """Ingest once sat on records for 30 s at a time: calls that a rebalancing group
    answers only after this consumer's next poll were retried until `request_timeout_ms`
    (docs/kafka.md). A trickle of events with the lag measured every 2 s, as in
    production, must see the committed offsets move every second or so."""
    from engage.chaos.observe import Progress

    kafka = engage_app.kafka
    progress = Progress(kafka, period_s=0.2).start()
    producer = make_producer(kafka)
    try:
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 40:
            e = event("page_view", customer=f"trickle-{n % 50}", at=time.time())
            producer.send(kafka.events_topic, key=e.actor_id.encode(), value=event_to_json(e))
            producer.flush(timeout=10)
            n += 1
            time.sleep(0.05)
        time.sleep(2.0)
    finally:
        producer.close(timeout=5)
        progress.stop()
    moves = [t for (_, before), (t, v) in itertools.pairwise(progress.samples) if v > before]
    gaps = [b - a for a, b in itertools.pairwise(moves)]
    assert len(moves) > 50, "the committed offsets moved all along"
    assert max(gaps) < 5.0, f"ingest held records for {max(gaps):.1f}s"
