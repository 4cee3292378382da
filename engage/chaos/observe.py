"""What a run left behind: customer states in Redis, actions and dead letters on their
topics, and the ingest group's progress over time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from actors.config import KafkaConfig
from actors.storage.keys import Keys
from actors.storage.slots import slot_of
from engage.chaos.stream import customer_id
from engage.settings import Settings


def states(settings: Settings, prefix: str, customers: int) -> dict[str, dict[str, Any]]:
    """Each customer's saved state, keyed by its number (the prefix differs per run)."""
    keys = Keys(settings.redis.prefix)
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        pipe = client.pipeline(transaction=False)
        for n in range(customers):
            cid = customer_id(prefix, n)
            pipe.hget(keys.state(slot_of(cid, settings.actors.slots), cid), "d")
        out = {}
        for n, raw in enumerate(pipe.execute()):
            state = json.loads(raw) if raw else {}
            # Where and when each event was read differs between the runs (other offsets,
            # other times): the ids applied are compared, not their marks and stamps.
            applied = state.pop("applied", None)
            if applied is not None:
                state["applied_ids"] = sorted(applied["ids"])
            # Action ids derive from the customer id, which differs between the two runs.
            for record in state.get("recent_actions", []):
                record[0] = "<action id>"
            out[f"{n:05d}"] = state
        return out
    finally:
        client.close()


def customer_state(settings: Settings, customer: str) -> dict[str, Any]:
    keys = Keys(settings.redis.prefix)
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        raw = client.hget(keys.state(slot_of(customer, settings.actors.slots), customer), "d")
    finally:
        client.close()
    return dict(json.loads(raw)) if raw else {}


def wait_until_applied(
    settings: Settings, prefix: str, customers: int, per_customer: int, timeout_s: float
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = states(settings, prefix, customers)
        done = sum(1 for s in found.values() if s.get("events_total", 0) >= per_customer)
        if done == customers or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


class TopicReader:
    """Reads every partition of a topic from the start, without a consumer group."""

    def __init__(self, kafka: KafkaConfig, topic: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=kafka.bootstrap,
            enable_auto_commit=False,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        partitions = self.consumer.partitions_for_topic(topic) or {0}
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self.records: list[Any] = []

    def read_until(self, done: Callable[[list[Any]], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)

    def read_until_quiet(self, quiet_s: float = 3.0, timeout_s: float = 120.0) -> None:
        """Until nothing new arrives for `quiet_s` (end offsets are not trusted: some
        Kafka-compatible brokers report them below what they hold)."""
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() - last_new < quiet_s and time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
                last_new = time.monotonic()

    def close(self) -> None:
        self.consumer.close()


def actions(settings: Settings, prefix: str, at_least: int = 0) -> list[dict[str, Any]]:
    """Every action record of the customers with `prefix` on the actions topic."""
    reader = TopicReader(settings.kafka, settings.kafka.actions_topic)
    try:
        reader.read_until(
            lambda rs: (
                sum(bool(r.key and r.key.decode().startswith(prefix)) for r in rs) >= at_least
            ),
            180,
        )
        reader.read_until_quiet()  # anything duplicated would arrive right behind
        values = [json.loads(r.value) for r in reader.records]
        return [v for v in values if str(v.get("customer_id", "")).startswith(prefix)]
    finally:
        reader.close()


def comparable(action: dict[str, Any], prefix: str) -> tuple[Any, ...]:
    """An action without what differs between the two runs (its customer's prefix)."""
    return (
        action["customer_id"].removeprefix(prefix),
        action["rule_id"],
        action["trigger_event_id"],
        action["type"],
        action.get("offer_id"),
    )


def dead_letters(settings: Settings, keys: set[bytes]) -> dict[bytes, str]:
    """The reason each of `keys` was dead-lettered with (records keyed that way)."""
    reader = TopicReader(settings.kafka, settings.kafka.events_dlq_topic)
    try:
        reader.read_until(lambda rs: keys <= {r.key for r in rs}, 120)
        reader.read_until_quiet(quiet_s=2.0)
        out = {}
        for record in reader.records:
            if record.key in keys:
                reason = dict(record.headers or ()).get("error-reason", b"").decode()
                out[record.key] = reason
        return out
    finally:
        reader.close()


class Progress:
    """Samples the ingest group's committed offsets, to find how long ingest stalled."""

    def __init__(self, kafka: KafkaConfig, period_s: float = 0.25) -> None:
        self.kafka = kafka
        self.period_s = period_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> Progress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def committed(self) -> int | None:
        """The group's committed offsets, summed; None when the broker cannot say (it is
        down, or the group is rebalancing): no sample then."""
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.kafka.bootstrap,
                group_id=self.kafka.group_id,
                enable_auto_commit=False,
                request_timeout_ms=5000,
                reconnect_backoff_max_ms=1000,
            )
        except KafkaError:
            return None
        try:
            tps = [TopicPartition(self.kafka.events_topic, p) for p in range(self.kafka.partitions)]
            return sum(consumer.committed(tp, timeout_ms=3000) or 0 for tp in tps)
        except KafkaError:
            return None
        finally:
            consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self.committed()
            if value is not None:
                self.samples.append((time.monotonic(), value))
            self._stop.wait(self.period_s)

    def stall_after(self, ended: float, target: int) -> float:
        """Seconds from `ended` until the committed offsets moved (0 if nothing was left
        to commit then); the time to the last sample if they never moved."""
        before = [v for t, v in self.samples if t <= ended]
        level = before[-1] if before else 0
        if level >= target:
            return 0.0
        for t, v in self.samples:
            if t > ended and v > level:
                return t - ended
        return (self.samples[-1][0] - ended) if self.samples else 0.0
