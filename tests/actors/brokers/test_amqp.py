"""The ingest loop on a real RabbitMQ: each customer's events in order, acked only after
the shards ack, given back and redelivered after a failure, invalid ones dead-lettered
with the reason, nothing lost when a consumer dies unacked."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import pika
import pytest

from actors.brokers.amqp import AmqpConsumer, queue_names
from actors.brokers.amqp_publish import AmqpDeadLetters, AmqpPublisher
from actors.errors import (
    BrokerUnavailableError,
    DeadLetterUnavailableError,
    IngestRetryExhaustedError,
    ShardUnavailableError,
)
from actors.hosting.batch import BatchResult
from actors.ingest import IngestLoop
from actors.model.events import event_to_json
from engage.processes import free_port
from engage.rabbitmq_server import RabbitMQ
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]

QUEUES = 3


class Shards:
    """Two shards that record each customer's events in the order they are applied; the
    first `failures` calls fail as an outage would."""

    def __init__(self, failures: int = 0) -> None:
        self.applied: dict[str, list[str]] = defaultdict(list)
        self.failures = failures

    def refresh(self, force: bool = False) -> None:
        return None

    def shard_for(self, customer_id: str) -> int:
        return hash(customer_id) % 2

    def process(
        self,
        batches: Mapping[int, list[bytes]],
        positions: Any = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        out: dict[int, BatchResult | Exception] = {}
        for shard, payloads in batches.items():
            if self.failures > 0:
                self.failures -= 1
                out[shard] = ShardUnavailableError(shard, "restarting")
                continue
            for raw in payloads:
                body = json.loads(raw)
                self.applied[body["customer_id"]].append(body["event_id"])
            out[shard] = BatchResult(processed=len(payloads))
        return out


@pytest.fixture
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"exchange": f"ev{tag}", "dlq": f"ev{tag}.dlq"}


def start(
    rabbitmq: RabbitMQ, names: dict[str, str], prefetch: int = 2000, timeout_s: float = 5.0
) -> AmqpConsumer:
    return AmqpConsumer(
        rabbitmq.url, names["exchange"], QUEUES, names["dlq"], prefetch, timeout_s=timeout_s
    )


def loop_over(
    consumer: AmqpConsumer, shards: Shards, rabbitmq: RabbitMQ, names: dict[str, str], batch: int
) -> IngestLoop:
    """The ingest loop on `consumer`, polls of at most `batch`."""
    return IngestLoop(
        consumer, shards, AmqpDeadLetters(rabbitmq.url, names["dlq"]), max_records=batch
    )


@pytest.fixture
def consumer(rabbitmq: RabbitMQ, names: dict[str, str]) -> Iterator[AmqpConsumer]:
    made = start(rabbitmq, names)
    yield made
    made.close()


def publish(rabbitmq: RabbitMQ, names: dict[str, str], bodies: list[tuple[str, bytes]]) -> None:
    """(actor id, body) pairs, confirmed, as the API publishes them."""
    publisher = AmqpPublisher(rabbitmq.url, names["exchange"], QUEUES, names["dlq"], 5.0)
    publisher.publish(bodies)
    publisher.close()


def as_published(events: list[Any]) -> list[tuple[str, bytes]]:
    return [(e.actor_id, event_to_json(e)) for e in events]


def sequence(customers: int, each: int) -> list[Any]:
    """Each customer's events numbered in publish order, customers interleaved."""
    return [
        event("page_view", customer=f"c{c}", event_id=f"c{c}-{n:03d}", at=time.time())
        for n in range(each)
        for c in range(customers)
    ]


def drain(loop: IngestLoop, shards: Shards, total: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(len(v) for v in shards.applied.values()) < total:
        assert time.monotonic() < deadline, f"{dict(shards.applied)}"
        try:
            loop.run_once()
        except Exception:  # rewound, as `run` would retry
            time.sleep(0.05)


def ready_messages(rabbitmq: RabbitMQ, queues: list[str]) -> int:
    channel = pika.BlockingConnection(pika.URLParameters(rabbitmq.url)).channel()
    count: int = sum(channel.queue_declare(q, passive=True).method.message_count for q in queues)
    channel.connection.close()
    return count


def in_order(shards: Shards, events: list[Any]) -> bool:
    expected: dict[str, list[str]] = defaultdict(list)
    for e in events:
        expected[e.actor_id].append(e.event_id)
    return all(shards.applied[c] == ids for c, ids in expected.items())


def test_each_customers_events_are_applied_in_order_and_acked_after_the_shards(
    consumer: AmqpConsumer, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    shards = Shards()
    loop = IngestLoop(consumer, shards, AmqpDeadLetters(rabbitmq.url, names["dlq"]))
    events = sequence(customers=12, each=25)
    publish(rabbitmq, names, as_published(events))
    drain(loop, shards, len(events))
    assert in_order(shards, events)
    consumer.poll(timeout_ms=200, max_records=10)  # lets the acks reach the broker
    assert ready_messages(rabbitmq, queue_names(names["exchange"], QUEUES)) == 0


def test_lag_counts_what_waits_in_the_queues_and_what_the_replica_holds_unacked(
    rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """The loop's lag (high watermark less committed offset, per queue) is every event
    not yet applied: held by this replica (up to its prefetch) or still in RabbitMQ."""
    consumer = start(rabbitmq, names, prefetch=10)
    try:
        shards = Shards()
        loop = loop_over(consumer, shards, rabbitmq, names, batch=5)
        events = sequence(customers=9, each=10)
        publish(rabbitmq, names, as_published(events))
        deadline = time.monotonic() + 30
        while len(loop.stats.committed) < QUEUES:  # a commit on every queue
            assert time.monotonic() < deadline
            loop.run_once()
        applied = sum(len(ids) for ids in shards.applied.values())
        assert 0 < applied < len(events)
        time.sleep(0.5)  # the broker refills the prefetch the acks freed
        lag = 0
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            assert end is not None
            lag += end - loop.stats.committed[f"{tp.topic}:{tp.partition}"]
        assert lag == len(events) - applied
    finally:
        consumer.close()
    # Once the connection is gone the lag is unknown, not an error and not zero; the next
    # poll opens a new connection, and the lag is known again.
    assert all(consumer.highwater(tp) is None for tp in consumer.assignment())
    consumer.poll(timeout_ms=200, max_records=1)
    assert consumer.reconnections == 1
    try:
        assert all(consumer.highwater(tp) is not None for tp in consumer.assignment())
    finally:
        consumer.close()


def test_a_failed_batch_is_given_back_and_applied_again_in_order(
    consumer: AmqpConsumer, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """Shards fail past the loop's retry bound: the poll is rewound, its deliveries are
    nacked back to their queues, and they come again, in order, nothing skipped."""
    shards = Shards(failures=1000)
    loop = IngestLoop(
        consumer,
        shards,
        AmqpDeadLetters(rabbitmq.url, names["dlq"]),
        retry_s=0.3,
        max_backoff_s=0.05,
    )
    events = sequence(customers=5, each=10)
    publish(rabbitmq, names, as_published(events))
    exhausted = None
    for _ in range(20):
        try:
            loop.run_once()
        except IngestRetryExhaustedError as error:
            exhausted = error
            break
    assert exhausted is not None
    assert loop.stats.rewinds >= 1
    shards.failures = 0
    drain(loop, shards, len(events))
    assert in_order(shards, events)


def test_invalid_events_go_to_the_dead_letter_queue_with_the_reason(
    consumer: AmqpConsumer, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    shards = Shards()
    loop = IngestLoop(consumer, shards, AmqpDeadLetters(rabbitmq.url, names["dlq"]))
    good = sequence(customers=1, each=2)
    bad = b'{"type": "page_view"}'
    publish(
        rabbitmq,
        names,
        [("c0", event_to_json(good[0])), ("c0", bad), ("c0", event_to_json(good[1]))],
    )
    drain(loop, shards, 2)
    assert in_order(shards, good)
    assert loop.stats.dead_lettered == 1
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
    _, properties, body = connection.channel().basic_get(names["dlq"], auto_ack=True)
    assert body == bad
    assert "event_id" in properties.headers["error-reason"]
    connection.close()


def test_a_consumer_that_dies_unacked_loses_nothing(
    rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """An ingest replica killed between the poll and the ack: the broker requeues its
    deliveries and the next consumer applies them (a redelivery is a no-op at the
    shards, by event id)."""
    events = sequence(customers=4, each=10)
    first = start(rabbitmq, names)
    publish(rabbitmq, names, as_published(events))
    polled = first.poll(timeout_ms=2000, max_records=1000)
    assert polled  # taken, never acked
    first._connection.close()  # the process dies: its connection is gone
    second = start(rabbitmq, names)
    try:
        shards = Shards()
        loop = IngestLoop(second, shards, AmqpDeadLetters(rabbitmq.url, names["dlq"]))
        drain(loop, shards, len(events))
        assert in_order(shards, events)
    finally:
        second.close()


def test_a_dead_letter_that_cannot_be_written_acks_nothing_and_loses_nothing(
    consumer: AmqpConsumer, rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """The dead-letter exchange out of reach (here: nothing listens where it is said to
    be): the poll with the invalid event is given back, not acked; once dead letters can
    be written the same events come again and every valid one is applied."""
    unreachable = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    shards = Shards()
    stuck = IngestLoop(consumer, shards, AmqpDeadLetters(unreachable, names["dlq"], 1.0))
    good = sequence(customers=1, each=2)
    bad = b'{"type": "page_view"}'
    publish(rabbitmq, names, [("c0", event_to_json(good[0])), ("c0", bad)])
    publish(rabbitmq, names, [("c0", event_to_json(good[1]))])
    deadline = time.monotonic() + 20
    failed = False
    while not failed and time.monotonic() < deadline:
        try:
            stuck.run_once()
        except DeadLetterUnavailableError:
            failed = True
    assert failed
    assert stuck.stats.rewinds >= 1
    assert stuck.stats.commits == 0  # nothing acked past the lost dead letter

    working = IngestLoop(consumer, shards, AmqpDeadLetters(rabbitmq.url, names["dlq"]))
    shards.applied.clear()
    drain(working, shards, 2)
    assert in_order(shards, good)
    assert working.stats.dead_lettered == 1


def test_a_connection_lost_while_consuming_is_opened_again_and_loses_nothing(
    rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """RabbitMQ frozen (SIGSTOP) past the consumer's heartbeat while ingest runs: the
    connection is dropped, and the next poll opens a new one (it fails, and the loop polls
    again, while the broker is still away); every event is then applied, each customer's in
    order (a redelivered one only again after the ones before it, a no-op for a shard)."""
    # A small prefetch, so that the rest waits in the broker when it freezes.
    consumer = start(rabbitmq, names, prefetch=5, timeout_s=2.0)
    try:
        shards = Shards()
        loop = loop_over(consumer, shards, rabbitmq, names, batch=20)
        events = sequence(customers=6, each=20)
        publish(rabbitmq, names, as_published(events))
        while sum(len(ids) for ids in shards.applied.values()) < 30:
            loop.run_once()
        os.kill(rabbitmq.pid, signal.SIGSTOP)
        thaw = threading.Timer(20.0, os.kill, (rabbitmq.pid, signal.SIGCONT))
        thaw.start()
        failures = 0
        try:
            deadline = time.monotonic() + 120
            while len({e for ids in shards.applied.values() for e in ids}) < len(events):
                assert time.monotonic() < deadline, dict(shards.applied)
                try:
                    loop.run_once()
                except Exception:  # the connection lost, or not back yet: `run` retries
                    failures += 1
                    time.sleep(0.2)
        finally:
            thaw.join()
            os.kill(rabbitmq.pid, signal.SIGCONT)
        assert consumer.reconnections == 1  # dropped once, opened again by a poll
        for customer, ids in shards.applied.items():
            once = list(dict.fromkeys(ids))  # a shard applies each event id once
            assert once == [e.event_id for e in events if e.actor_id == customer]
    finally:
        consumer.close()


def test_publishing_to_a_frozen_broker_fails_within_its_bound_then_works_again(
    rabbitmq: RabbitMQ, names: dict[str, str]
) -> None:
    """The API's publisher while RabbitMQ is frozen (SIGSTOP): the publish raises within
    2 * (heartbeat + 5 s) — the API answers 503 and the sender retries, the event id
    making a copy that did arrive a no-op — and publishes again once the broker is back."""
    publisher = AmqpPublisher(rabbitmq.url, names["exchange"], QUEUES, names["dlq"], 1.0)
    publisher.publish(as_published(sequence(customers=1, each=1)))  # connected and declared
    os.kill(rabbitmq.pid, signal.SIGSTOP)
    thaw = threading.Timer(25.0, os.kill, (rabbitmq.pid, signal.SIGCONT))
    thaw.start()
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailableError):
            publisher.publish(as_published(sequence(customers=1, each=1)))
        waited = time.monotonic() - started
    finally:
        thaw.join()
    assert waited < 2 * (2 + 5) + 3  # heartbeat 2 s (timeout 1 s): two checks and a margin
    publisher.publish(as_published(sequence(customers=1, each=1)))
    publisher.close()
