"""The Kafka sink on a real broker: headers for consumers, and telling what already landed."""

from __future__ import annotations

import asyncio
import time

import pytest

from actors.config import KafkaConfig
from actors.kafka_io import ensure_topics, make_producer
from actors.sinks.kafka import KafkaSink
from tests.actors.test_outbox import make_action
from tests.kafka_support import TopicReader

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_actions_land_keyed_by_customer_with_their_headers(kafka_config: KafkaConfig) -> None:
    ensure_topics(kafka_config)
    producer = make_producer(kafka_config)
    sink = KafkaSink(producer, kafka_config.actions_topic, kafka_config)
    results = asyncio.run(sink.deliver([make_action("k1"), make_action("k2")]))
    producer.close()
    assert [r.ok for r in results] == [True, True]
    reader = TopicReader(kafka_config.bootstrap or "", kafka_config.actions_topic)
    try:
        records = reader.read_until(lambda rs: len(rs) >= 2, timeout_s=30)
    finally:
        reader.close()
    assert {r.key for r in records} == {b"c1"}
    headers = dict(records[0].headers)
    assert headers["action-type"] == b"content_recommendation"
    assert headers["idempotency-key"] in (b"k1", b"k2")


def test_the_sink_tells_which_interrupted_deliveries_already_landed(
    kafka_config: KafkaConfig,
) -> None:
    ensure_topics(kafka_config)
    producer = make_producer(kafka_config)
    sink = KafkaSink(producer, kafka_config.actions_topic, kafka_config)
    began = time.time()
    asyncio.run(sink.deliver([make_action("landed-1"), make_action("landed-2")]))
    producer.close()
    found = asyncio.run(sink.delivered({"landed-1", "landed-2", "lost-3"}, began))
    assert found == {"landed-1", "landed-2"}
    assert asyncio.run(sink.delivered(set(), began)) == set()
