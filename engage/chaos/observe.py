"""What a run left behind: customer states in Redis, actions and dead letters on their
topics, and the ingest group's progress over time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from actors.config import KafkaConfig
from actors.storage.keys import Keys
from actors.storage.slots import slot_of
from engage.settings import Settings


def actor_of(prefix: str, name: str) -> str:
    """A run's actor id from its name without the prefix (a visitor keeps `anon:` first)."""
    if name.startswith("anon:"):
        return "anon:" + prefix + name.removeprefix("anon:")
    return prefix + name


def states(settings: Settings, prefix: str, actors: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each actor's saved state, keyed by its id without the run's prefix."""
    keys = Keys(settings.redis.prefix)
    names = list(actors)
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            cid = actor_of(prefix, name)
            pipe.hget(keys.state(slot_of(cid, settings.actors.slots), cid), "d")
        out = {}
        for name, raw in zip(names, pipe.execute(), strict=True):
            state = json.loads(raw) if raw else {}
            # Where and when each event was read differs between the runs (other offsets,
            # other times): the ids applied are compared, not their marks and stamps.
            applied = state.pop("applied", None)
            if applied is not None:
                state["applied_ids"] = sorted(applied["ids"])
            # Action ids derive from the customer id, which differs between the two runs.
            for record in state.get("recent_actions", []):
                record[0] = "<action id>"
            # So do the visitors a customer absorbed, and addresses made from the id.
            if "email" in state:
                state["email"] = state["email"].replace(prefix, "", 1)
            if "linked" in state:
                state["linked"] = [v.replace(prefix, "", 1) for v in state["linked"]]
            out[name] = state
        return out
    finally:
        client.close()


def state_sizes(settings: Settings, prefix: str, actors: Iterable[str]) -> dict[str, int]:
    """Bytes of each actor's saved state."""
    keys = Keys(settings.redis.prefix)
    names = list(actors)
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            cid = actor_of(prefix, name)
            pipe.hstrlen(keys.state(slot_of(cid, settings.actors.slots), cid), "d")
        return {name: int(size) for name, size in zip(names, pipe.execute(), strict=True)}
    finally:
        client.close()


def links(settings: Settings, prefix: str, visitors: Iterable[str]) -> dict[str, str]:
    """The customer each visitor (`anon:` id without the prefix) is linked to, if any."""
    keys = Keys(settings.redis.prefix)
    names = list(visitors)
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            actor = actor_of(prefix, name)
            pipe.hget(keys.state(slot_of(actor, settings.actors.slots), actor), "m")
        return {
            name: raw.decode().removeprefix(prefix)
            for name, raw in zip(names, pipe.execute(), strict=True)
            if raw
        }
    finally:
        client.close()


def outboxes(settings: Settings, prefix: str) -> list[dict[str, Any]]:
    """The actions still saved in every slot's outbox (deferred, waiting) of the run."""
    keys = Keys(settings.redis.prefix)
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        pipe = client.pipeline(transaction=False)
        for slot in range(settings.actors.slots):
            pipe.hvals(keys.outbox(slot))
        out = []
        for values in pipe.execute():
            for raw in values:
                body = json.loads(raw)
                if str(body.get("customer_id", "")).startswith(prefix):
                    out.append(body)
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
    settings: Settings, prefix: str, expected: Mapping[str, int], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """The states of every actor of `expected` once each counts its events (or at the
    deadline, as they are)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = states(settings, prefix, expected)
        done = all(found[a].get("events_total", 0) >= n for a, n in expected.items())
        if done or time.monotonic() > deadline:
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


def comparable(action: dict[str, Any], prefix: str) -> tuple[Any, ...]:
    """An action without what differs between the two runs (its customer's prefix)."""
    return (
        action["customer_id"].removeprefix(prefix),
        action["rule_id"],
        action["trigger_event_id"],
        action["type"],
        action.get("offer_id"),
    )


def dead_letters_of(kafka: KafkaConfig, topic: str, keys: set[bytes]) -> dict[bytes, str]:
    """The reason each of `keys` was dead-lettered with (records keyed that way)."""
    reader = TopicReader(kafka, topic)
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


def stall_after(samples: list[tuple[float, int]], ended: float, target: int) -> float:
    """Seconds from `ended` until the sampled progress moved (0 if nothing was left to
    do then); the time to the last sample if it never moved."""
    before = [v for t, v in samples if t <= ended]
    level = before[-1] if before else 0
    if level >= target:
        return 0.0
    for t, v in samples:
        if t > ended and v > level:
            return t - ended
    return (samples[-1][0] - ended) if samples else 0.0


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
        return stall_after(self.samples, ended, target)
