"""The events topic as ingest reads it (KafkaEventsConsumer), on a real broker."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from actors.brokers.base import Partition
from actors.brokers.kafka import KafkaEventsConsumer, make_producer
from actors.config import KafkaConfig

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
