"""The Kafka sink on a real broker: headers for consumers, and telling what already landed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future

from actors.brokers.kafka import ensure_topics, make_producer
from actors.brokers.kafka_sink import LOOK_BACK_S, KafkaSink
from actors.config import KafkaConfig
from tests.actors.delivery.test_outbox import make_action
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


class SlowBrokerProducer:
    """A producer whose sends stay unacknowledged until the test settles them, as when
    the broker is down longer than the sink waits."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.futures: list[Future] = []

    def send(self, topic: str, key: bytes, value: bytes, headers: Any) -> Future:
        self.sent.append(dict(headers)["idempotency-key"].decode())
        future = Future()
        self.futures.append(future)
        return future

    def flush(self, timeout: float | None = None) -> None:
        return None


def test_a_send_still_in_flight_is_never_sent_again_and_counts_no_attempt() -> None:
    producer = SlowBrokerProducer()
    sink = KafkaSink(producer, "actions")
    action = make_action("k1")
    (first,) = asyncio.run(sink.deliver([action]))
    assert (first.ok, first.retryable, first.counts) == (False, True, False)
    (again,) = asyncio.run(sink.deliver([action]))  # the dispatcher's retry
    assert not again.ok
    assert producer.sent == ["k1"]  # not sent a second time
    producer.futures[0].success(None)  # the broker is back and acknowledges it
    (settled,) = asyncio.run(sink.deliver([action]))
    assert settled.ok
    assert producer.sent == ["k1"]


def test_a_record_over_the_size_limit_fails_alone_and_for_good() -> None:
    class Refusing(SlowBrokerProducer):
        def send(self, topic: str, key: bytes, value: bytes, headers: Any) -> Future:
            if dict(headers)["idempotency-key"] == b"big":
                raise MessageSizeTooLargeError("the message is 2000000 bytes")
            future = super().send(topic, key, value, headers)
            future.success(None)
            return future

    sink = KafkaSink(Refusing(), "actions")
    big, fine = asyncio.run(sink.deliver([make_action("big"), make_action("fine")]))
    assert (big.ok, big.retryable) == (False, False)
    assert fine.ok


def test_a_failed_send_that_may_have_landed_is_answered_unsure_and_not_sent_again() -> None:
    producer = SlowBrokerProducer()
    sink = KafkaSink(producer, "actions")
    action = make_action("k1")
    asyncio.run(sink.deliver([action]))
    producer.futures[0].failure(KafkaTimeoutError("expired in the accumulator"))
    (answer,) = asyncio.run(sink.deliver([action]))  # the dispatcher's retry
    assert (answer.ok, answer.unsure, answer.counts) == (False, True, False)
    assert producer.sent == ["k1"]  # the dispatcher looks it up before any resend
    (resent,) = asyncio.run(sink.deliver([action]))  # the look-up said: not there
    producer.futures[1].success(None)
    assert producer.sent == ["k1", "k1"]
    assert not resent.ok


def test_a_look_up_reads_only_the_partitions_written_since_the_action_began(
    kafka_config: KafkaConfig,
) -> None:
    # Given an actions topic whose other partitions hold only old records
    ensure_topics(kafka_config)
    producer = make_producer(kafka_config)
    sink = KafkaSink(producer, kafka_config.actions_topic, kafka_config)
    asyncio.run(sink.deliver([make_action(f"old-{i}") for i in range(50)]))
    time.sleep(LOOK_BACK_S + 1.5)
    began = time.time()
    asyncio.run(sink.deliver([make_action("recent")]))
    producer.close()
    reads: list[int] = []
    original = KafkaConsumer.poll

    def counting(self: KafkaConsumer, *args: Any, **kwargs: Any) -> Any:
        polled = original(self, *args, **kwargs)
        reads.append(sum(len(records) for records in polled.values()))
        return polled

    KafkaConsumer.poll = counting
    try:
        found = asyncio.run(sink.delivered({"recent", "never-sent"}, began))
        quiet = asyncio.run(sink.delivered({"never-sent"}, time.time() + 60))
    finally:
        KafkaConsumer.poll = original
    assert found == {"recent"}
    # then only what was written since is read, not the partitions' history
    assert sum(reads) <= 1
    # and a look-up where nothing was written since reads nothing at all
    assert quiet == set()
