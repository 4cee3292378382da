"""Training data from the events topic of a real broker: ranges, and a broker that stops."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaProducer

from actors.brokers.base import OffsetRange
from actors.brokers.kafka import ensure_topics, make_consumer
from actors.brokers.kafka_broker import KafkaBroker
from actors.config import KafkaConfig
from actors.errors import BrokerUnavailableError
from actors.model.events import event_to_json
from engage.processes import ServerProcess
from engage.stack import start_broker
from tests.kafka_support import produce
from tests.support import T0, event
from training.dataset import fingerprint
from training.sources import from_broker

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def _events(n: int = 400) -> list:  # type: ignore[type-arg]
    return [event("page_view", f"c{i % 37}", T0 + i * 60.0) for i in range(n)]


def test_the_topic_reads_back_every_valid_event_and_counts_the_rest(
    kafka_config: KafkaConfig,
) -> None:
    ensure_topics(kafka_config)
    events = _events()
    produce(kafka_config, [*events[:200], b'{"type": "nonsense"}', *events[200:]])
    data = from_broker(KafkaBroker(kafka_config))
    assert sorted(e.event_id for e in data.events) == sorted(e.event_id for e in events)
    assert data.rejected == 1
    assert data.first_rejection is not None
    assert data.first_rejection.startswith(f"{kafka_config.events_topic}[")
    assert data.source["kind"] == "kafka"
    assert sum(end - start for start, end in data.source["offsets"].values()) == 401
    # The same range twice is the same data: a run can be repeated.
    again = from_broker(KafkaBroker(kafka_config))
    by_time = sorted(data.events, key=lambda e: (e.ts, e.event_id))
    assert fingerprint(sorted(again.events, key=lambda e: (e.ts, e.event_id))) == fingerprint(
        by_time
    )


def test_an_event_time_range_and_offsets_limit_the_read(kafka_config: KafkaConfig) -> None:
    ensure_topics(kafka_config)
    events = _events(100)
    produce(kafka_config, events)
    ranged = from_broker(KafkaBroker(kafka_config), since=T0 + 10 * 60.0, until=T0 + 19 * 60.0)
    assert sorted(e.ts for e in ranged.events) == [T0 + i * 60.0 for i in range(10, 20)]
    assert ranged.as_of == T0 + 19 * 60.0
    nothing_past = {p: 0 for p in range(kafka_config.partitions)}
    with pytest.raises(Exception, match="no events"):
        from_broker(KafkaBroker(kafka_config), offsets=OffsetRange(stop=nothing_past))


def test_a_read_ends_at_what_was_there_when_it_began_whatever_the_producers_clocks(
    kafka_config: KafkaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_topics(kafka_config)
    before = _events(100)
    # A producer whose clock runs two minutes ahead: its records were there all the same.
    # (Others follow them: the embedded broker reports the end of a partition as the start
    # of its last batch, so only records before that are known to be there.)
    produce(kafka_config, before[:50], timestamp_ms=int((time.time() + 120) * 1000))
    produce(kafka_config, before[50:])
    # Once the read has begun, a live tail keeps coming, stamped by a clock 30 s ahead:
    # not part of the read, which must not follow it.
    began = threading.Event()

    def consumer(*args: Any, **kwargs: Any) -> Any:
        began.set()
        return make_consumer(*args, **kwargs)

    monkeypatch.setattr("actors.brokers.kafka_reader.make_consumer", consumer)
    tail = [event("page_view", "live", T0 + n, event_id=f"tail-{n}") for n in range(1000)]

    def keep_producing() -> None:
        began.wait(timeout=60)
        producer = KafkaProducer(bootstrap_servers=kafka_config.bootstrap, linger_ms=0)
        try:
            for live in tail:
                stamp = int((time.time() + 30) * 1000)
                producer.send(
                    kafka_config.events_topic,
                    key=b"live",
                    value=event_to_json(live),
                    timestamp_ms=stamp,
                ).get(timeout=30)
                time.sleep(0.005)
        finally:
            producer.close(timeout=5)

    producer = threading.Thread(target=keep_producing)
    producer.start()
    try:
        data = from_broker(KafkaBroker(kafka_config))
    finally:
        producer.join(timeout=120)
    read = {e.event_id for e in data.events}
    assert {e.event_id for e in before} <= read
    tail_read = read & {e.event_id for e in tail}
    assert len(tail_read) < len(tail) / 2, "the read followed the live tail"


@pytest.fixture
def own_broker() -> Iterator[ServerProcess]:
    broker = start_broker()
    yield broker
    os.kill(broker.process.pid, signal.SIGCONT)
    broker.stop()


def test_a_paused_broker_ends_the_read_with_an_error_and_the_read_after_is_whole(
    own_broker: ServerProcess, prefix: str
) -> None:
    config = KafkaConfig(
        bootstrap=f"127.0.0.1:{own_broker.port}", events_topic=f"{prefix}.events", partitions=2
    )
    ensure_topics(config)
    events = _events(300)
    produce(config, events)
    undisturbed = from_broker(KafkaBroker(config))

    os.kill(own_broker.process.pid, signal.SIGSTOP)
    resume = threading.Timer(30.0, os.kill, (own_broker.process.pid, signal.SIGCONT))
    resume.start()
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailableError):
            from_broker(KafkaBroker(config), idle_timeout_s=8.0)
        waited = time.monotonic() - started
    finally:
        resume.cancel()
        os.kill(own_broker.process.pid, signal.SIGCONT)
    assert waited < 28.0, "the read waited for the broker instead of failing"
    after = from_broker(KafkaBroker(config))
    assert sorted(e.event_id for e in after.events) == sorted(
        e.event_id for e in undisturbed.events
    )


def test_a_broker_paused_mid_read_gives_an_error_or_every_event_never_fewer(
    own_broker: ServerProcess, prefix: str
) -> None:
    config = KafkaConfig(
        bootstrap=f"127.0.0.1:{own_broker.port}", events_topic=f"{prefix}.events", partitions=2
    )
    ensure_topics(config)
    events = _events(20_000)  # several fetches per partition at kafka-python's 1 MB each
    produce(config, events)
    pid = own_broker.process.pid
    resume = threading.Timer(30.0, os.kill, (pid, signal.SIGCONT))
    paused = threading.Event()

    def pause_once(_: int) -> None:
        if not paused.is_set():
            paused.set()
            os.kill(pid, signal.SIGSTOP)
            resume.start()

    try:
        data = from_broker(KafkaBroker(config), idle_timeout_s=8.0, progress=pause_once)
    except BrokerUnavailableError:
        data = None
    finally:
        resume.cancel()
        os.kill(pid, signal.SIGCONT)
    assert paused.is_set()
    if data is not None:  # everything had been fetched before the pause: all of it, then
        assert len(data.events) == len(events)
    after = from_broker(KafkaBroker(config))
    assert sorted(e.event_id for e in after.events) == sorted(e.event_id for e in events)
