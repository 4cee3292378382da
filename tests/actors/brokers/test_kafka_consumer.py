"""The events topic as ingest reads it (KafkaEventsConsumer), on a real broker."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from actors.brokers.base import Partition
from actors.brokers.kafka import KafkaEventsConsumer, make_producer
from actors.config import KafkaConfig
from tests.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def tag_after_records(config: KafkaConfig) -> int:
    producer = make_producer(config)
    producer.send(config.events_topic, key=b"c1", value=b"{}", partition=0)
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaEventsConsumer(config)
    try:
        deadline = time.monotonic() + 30
        while not consumer.poll(timeout_ms=500, max_records=10):
            assert time.monotonic() < deadline, "no record came"
        return consumer.topic_tag(Partition(config.events_topic, 0))
    finally:
        consumer.close()


def test_a_recreated_topic_reads_under_another_tag(kafka_config: KafkaConfig) -> None:
    # The tag names the topic's incarnation: offsets of a topic created again start at 0
    # and must not be taken for the old one's (actors.model.dedup).
    admin = KafkaAdminClient(bootstrap_servers=kafka_config.bootstrap)
    try:
        admin.create_topics([NewTopic(kafka_config.events_topic, 1, 1)])
        first = tag_after_records(kafka_config.model_copy(update={"group_id": "g1"}))
        admin.delete_topics([kafka_config.events_topic])
        deadline = time.monotonic() + 30
        while kafka_config.events_topic in admin.list_topics():
            assert time.monotonic() < deadline, "the topic was not deleted"
            time.sleep(0.2)
        admin.create_topics([NewTopic(kafka_config.events_topic, 1, 1)])
        second = tag_after_records(kafka_config.model_copy(update={"group_id": "g2"}))
    finally:
        admin.close()
    assert first != 0
    assert second not in (0, first)


def fetch_wait(consumer: KafkaEventsConsumer) -> int:
    wait: int = consumer.consumer._fetcher.config["fetch_max_wait_ms"]
    return wait


def test_a_consumer_behind_waits_longer_per_fetch_and_returns_to_short_waits_at_the_end(
    kafka_config: KafkaConfig,
) -> None:
    # Behind the end, a long wait costs nothing (records are there to answer with) and
    # keeps a consumer that fell behind on the embedded broker from never catching up;
    # at the end a short wait keeps each event's hop short.
    config = kafka_config.model_copy(
        update={
            "fetch_catch_up_wait_ms": 400,
            "catch_up_after_records": 100,
            "catch_up_hold_s": 0.5,
        }
    )
    admin = KafkaAdminClient(bootstrap_servers=config.bootstrap)
    admin.create_topics([NewTopic(config.events_topic, 1, 1)])
    admin.close()
    producer = make_producer(config)
    for i in range(2000):
        producer.send(config.events_topic, key=b"c1", value=b'{"n": %d}' % i, partition=0)
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaEventsConsumer(config)
    try:
        assert fetch_wait(consumer) == config.fetch_max_wait_ms
        read = 0
        deadline = time.monotonic() + 60
        waits = []
        while read < 2000:
            assert time.monotonic() < deadline, f"read {read} of 2000"
            polled = consumer.poll(timeout_ms=500, max_records=50)
            read += sum(len(records) for records in polled.values())
            waits.append(fetch_wait(consumer))
        assert config.fetch_catch_up_wait_ms in waits
        assert consumer.behind() == 0

        def back_to_short_waits() -> bool:
            consumer.poll(timeout_ms=100, max_records=50)
            return fetch_wait(consumer) == config.fetch_max_wait_ms

        eventually(back_to_short_waits, 10, "short fetch waits at the end of the topic")
        assert not consumer.catching_up
    finally:
        consumer.close()
