"""The consumer contract the ingest loop relies on (actors.brokers.base), held by the stub
broker of the unit tests and by Kafka alike: one test, both brokers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from actors.brokers.base import Broker, Consumer, Partition
from actors.brokers.kafka_broker import KafkaBroker
from actors.brokers.stub import StubBroker


@pytest.fixture(
    params=["stub", pytest.param("kafka", marks=[pytest.mark.integration, pytest.mark.kafka])]
)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    if request.param == "stub":
        yield StubBroker(partitions=2)
        return
    kafka = request.getfixturevalue("kafka_config").model_copy(update={"partitions": 2})
    made = KafkaBroker(kafka)
    made.prepare()
    yield made
    made.close()


def polled(consumer: Consumer, want: int, timeout_s: float = 30.0) -> dict[Partition, list[Any]]:
    """Poll until `want` records came (a group member may need a moment to join)."""
    got: dict[Partition, list[Any]] = {}
    deadline = time.monotonic() + timeout_s
    while sum(len(r) for r in got.values()) < want:
        assert time.monotonic() < deadline, f"{sum(len(r) for r in got.values())} of {want}"
        for partition, records in consumer.poll(timeout_ms=200, max_records=want).items():
            got.setdefault(partition, []).extend(records)
    return got


def values(records: dict[Partition, list[Any]]) -> list[bytes]:
    return sorted(r.value for rs in records.values() for r in rs)


def publish(broker: Broker, events: list[tuple[str, bytes]]) -> None:
    publisher = broker.publisher()
    publisher.publish(events)
    publisher.close()


def test_one_actors_records_come_in_order_from_one_partition(broker: Broker) -> None:
    publish(broker, [("c1", f"e{n}".encode()) for n in range(5)])
    consumer = broker.consumer()
    try:
        got = polled(consumer, 5)
        ((_partition, records),) = got.items()
        assert [r.value for r in records] == [f"e{n}".encode() for n in range(5)]
        assert [r.offset for r in records] == sorted(r.offset for r in records)
        assert consumer.stable_positions
    finally:
        consumer.close()


def test_a_seek_back_gives_the_same_records_again(broker: Broker) -> None:
    publish(broker, [("c1", b"a"), ("c1", b"b"), ("c1", b"c")])
    consumer = broker.consumer()
    try:
        ((partition, records),) = polled(consumer, 3).items()
        consumer.seek(partition, records[1].offset)
        again = polled(consumer, 2)
        assert values(again) == [b"b", b"c"]
    finally:
        consumer.close()


def test_a_commit_is_where_the_groups_next_member_starts(broker: Broker) -> None:
    publish(broker, [("c1", b"a"), ("c1", b"b"), ("c1", b"c")])
    first = broker.consumer()
    try:
        ((partition, records),) = polled(first, 3).items()
        first.commit({partition: records[2].offset}, timeout_ms=10_000)
    finally:
        first.close()
    second = broker.consumer()
    try:
        assert values(polled(second, 1)) == [b"c"]
    finally:
        second.close()


def test_records_of_a_topic_carry_its_incarnation(broker: Broker) -> None:
    publish(broker, [("c1", b"a")])
    consumer = broker.consumer()
    try:
        ((partition, _),) = polled(consumer, 1).items()
        assert consumer.topic_tag(partition) != 0
    finally:
        consumer.close()
