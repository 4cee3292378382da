"""Training from RabbitMQ: every event published to the events exchange is also kept in the
events log stream, and `--from rabbitmq` (`engage train`, `engage export`) reads it back by
event time, up to where the stream stood when reading began, while ingest's queues still
get every event."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from actors.brokers.amqp import AmqpConsumer, EventsLog
from actors.brokers.amqp_broker import RabbitBroker
from actors.brokers.amqp_publish import AmqpPublisher
from actors.config import RabbitMQConfig
from actors.errors import BrokerUnavailableError, TrainingDataError
from actors.model.events import event_to_json
from engage.cli import main
from engage.rabbitmq_server import RabbitMQ
from tests.support import event
from training.sources import from_broker

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]

DAY = 86_400.0


@pytest.fixture
def config(rabbitmq: RabbitMQ) -> RabbitMQConfig:
    tag = uuid.uuid4().hex[:8]
    return RabbitMQConfig(
        url=SecretStr(rabbitmq.url),
        events_exchange=f"log{tag}",
        events_dlq=f"log{tag}.dlq",
        events_log=f"log{tag}.log",
        events_queues=2,
    )


def published(config: RabbitMQConfig) -> list[str]:
    """Twelve events over the last six days (two a day) and one that is not an event;
    returns the ids of those of the last 78 hours (3.25 days: no event on the edge)."""
    now = time.time()
    events = [
        event("page_view", customer=f"c{n % 3}", event_id=f"e{n}", at=now - (6 - n / 2) * DAY)
        for n in range(12)
    ]
    publisher = AmqpPublisher.of(config)
    publisher.publish([(e.actor_id, event_to_json(e)) for e in events])
    publisher.publish([("c0", b'{"type": "page_view"}')])
    publisher.close()
    return [e.event_id for e in events if e.ts >= now - 3.25 * DAY]


def test_the_log_gives_back_the_events_of_a_time_range_and_counts_the_invalid_one(
    config: RabbitMQConfig,
) -> None:
    recent = published(config)
    since = time.time() - 3.25 * DAY
    first = from_broker(RabbitBroker(config), since=since)
    assert [e.event_id for e in first.events] == recent
    assert first.rejected == 1
    assert first.source["kind"] == "rabbitmq"
    # Read again: the first read's end marker is in the stream now, and is skipped.
    again = from_broker(RabbitBroker(config), since=since)
    assert [e.event_id for e in again.events] == recent
    assert again.rejected == 1
    with pytest.raises(TrainingDataError):
        from_broker(RabbitBroker(config), since=time.time() + DAY)  # nothing that late


def test_ingest_still_gets_every_event_the_log_keeps(config: RabbitMQConfig) -> None:
    published(config)
    consumer = AmqpConsumer(
        config.require_url(),
        config.events_exchange,
        config.events_queues,
        config.events_dlq,
        log=EventsLog(config.events_log, config.events_log_max_age),
    )
    try:
        got = 0
        deadline = time.monotonic() + 20
        while got < 13 and time.monotonic() < deadline:
            got += sum(len(r) for r in consumer.poll(timeout_ms=500, max_records=100).values())
        assert got == 13
    finally:
        consumer.close()
    assert len(from_broker(RabbitBroker(config)).events) == 12


def test_engage_export_reads_the_log_when_the_broker_is_rabbitmq(
    config: RabbitMQConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    prefix: str,
) -> None:
    recent = published(config)
    # Export leaves out forgotten customers: it reads their tombstones in Redis.
    monkeypatch.setenv("ENGAGE_REDIS_URL", redis_url)
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", prefix)
    monkeypatch.setenv("ENGAGE_BROKER", "rabbitmq")
    monkeypatch.setenv("ENGAGE_RABBITMQ_URL", config.require_url())
    monkeypatch.setenv("ENGAGE_RABBITMQ_EVENTS_LOG", config.events_log)
    out = tmp_path / "recent.jsonl"
    assert main(["export", "--out", str(out), "--since", "78h"]) == 0  # no --from: the broker
    assert [json.loads(line)["event_id"] for line in out.read_text().splitlines()] == recent


def test_a_broker_out_of_reach_is_an_error_that_names_it() -> None:
    unreachable = RabbitMQConfig(url=SecretStr("amqp://guest:guest@127.0.0.1:1/%2F"))
    with pytest.raises(BrokerUnavailableError) as refused:
        from_broker(RabbitBroker(unreachable))
    assert refused.value.address == "127.0.0.1:1/%2F"
