"""What the broker seam reads off any broker's record: whether it is a dead letter's
replay, and which."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from actors.brokers.amqp import AmqpRecord
from actors.brokers.base import replay_of
from actors.brokers.stub import StubRecord


def kafka_record(headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord("engage.events", 0, -1, 7, 0, 0, b"c1", b"{}", headers, None, 2, 2, -1)


def test_a_kafka_record_names_the_dead_letter_it_replays() -> None:
    replayed = kafka_record([("trace", b"x"), ("replay-of", b"engage.events.dlq/0:12")])
    assert replay_of(replayed) == "engage.events.dlq/0:12"
    assert replay_of(kafka_record([])) is None


def test_a_rabbitmq_record_names_the_dead_letter_it_replays() -> None:
    assert replay_of(AmqpRecord(0, b"c1", b"{}", 1, False, "engage.events.dlq/ab12")) == (
        "engage.events.dlq/ab12"
    )
    assert replay_of(AmqpRecord(0, b"c1", b"{}", 1)) is None


def test_a_record_without_headers_is_no_replay() -> None:
    assert replay_of(StubRecord(0, b"c1", b"{}")) is None
