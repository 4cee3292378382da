"""kafka-python clients built from `KafkaConfig`, and topic administration.

Every producer, consumer and admin client in engage is made here, so security settings
(SASL, TLS) reach all of them, and kafka-python's errors become engage errors.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaConfigurationError, KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from actors.brokers.base import Partition, Record
from actors.config import KafkaConfig
from actors.errors import BrokerUnavailableError, ConfigError

log = logging.getLogger(__name__)


def make_producer(config: KafkaConfig, **overrides: Any) -> KafkaProducer:
    # No linger: with one request in flight per connection, what accumulates while it is
    # answered goes in the next request anyway, so batches still form under load, and at
    # light load an action or a collected event leaves at once instead of 5 ms later.
    # Idempotent, said explicitly: kafka-python would otherwise drop idempotence in
    # silence on a conflicting option or an old broker, and a retried send could then
    # write an event or an action twice. Here that is a configuration error instead.
    options: dict[str, Any] = {
        **config.client_options(),
        "acks": "all",
        "linger_ms": 0,
        "retries": 5,
        "max_in_flight_requests_per_connection": 1,
        "enable_idempotence": True,
    }
    options.update(overrides)
    try:
        return KafkaProducer(**options)
    except KafkaConfigurationError as error:
        raise ConfigError("ENGAGE_KAFKA_BOOTSTRAP", f"no idempotent producer: {error}") from error
    except KafkaError as error:
        raise BrokerUnavailableError(config.require_bootstrap(), str(error)) from error


def make_consumer(config: KafkaConfig, *topics: str, **overrides: Any) -> KafkaConsumer:
    options: dict[str, Any] = {
        **config.client_options(),
        "group_id": config.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": config.session_timeout_ms,
        "heartbeat_interval_ms": config.heartbeat_interval_ms,
        "max_poll_records": config.max_poll_records,
        "max_poll_interval_ms": config.max_poll_interval_ms,
        "fetch_max_wait_ms": config.fetch_max_wait_ms,
    }
    options.update(overrides)
    try:
        return KafkaConsumer(*topics, **options)
    except KafkaError as error:
        raise BrokerUnavailableError(config.require_bootstrap(), str(error)) from error


def set_fetch_wait(consumer: KafkaConsumer, wait_ms: int) -> None:
    """Change how long the broker may hold this consumer's next fetches. kafka-python has
    no public setter; its fetcher reads the value from its own config for each request
    (version pinned)."""
    consumer._fetcher.config["fetch_max_wait_ms"] = wait_ms


class KafkaEventsConsumer:
    """The events topic as the ingest loop reads it (actors.brokers.base.Consumer): a
    consumer-group member of `config.group_id`, committing only what the loop commits."""

    stable_positions = True

    def __init__(self, config: KafkaConfig, consumer: KafkaConsumer | None = None) -> None:
        self.consumer = consumer or make_consumer(config, config.events_topic)
        self._config = config
        self.catching_up = False
        self._behind_at = float("-inf")  # when a poll last left it far behind

    def poll(self, timeout_ms: int, max_records: int) -> Mapping[Partition, Sequence[Record]]:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        self._pace()
        return {Partition(tp.topic, tp.partition): records for tp, records in polled.items()}

    def _pace(self) -> None:
        """Short fetch waits at the end of the topic (latency), long ones while behind
        (throughput). Judged after every poll, an empty one too: on the embedded broker a
        consumer far behind may get nothing at all from a short wait, and would never
        learn it is behind from the records it got."""
        now = time.monotonic()
        if self.behind() >= self._config.catch_up_after_records:
            self._behind_at = now
        # Held for `catch_up_hold_s` after the consumer was last that far behind: near its
        # end a big embedded broker's short fetches bring less than arrives meanwhile, so
        # a consumer that went back to them at once would fall behind again at once.
        catching_up = now - self._behind_at < self._config.catch_up_hold_s
        if catching_up != self.catching_up:
            self.catching_up = catching_up
            set_fetch_wait(self.consumer, self._fetch_wait())

    def behind(self) -> int:
        """Records between this consumer's positions and the ends it last heard of, from
        what the consumer knows (no broker call: see actors.ingest `_measure_lag`)."""
        behind = 0
        positions = self.consumer._subscription.assignment  # kafka-python pinned
        for tp, state in list(positions.items()):
            end = self.consumer.highwater(tp)
            if end is not None and state.has_valid_position:
                behind += max(0, end - state.position.offset)
        return behind

    def _fetch_wait(self) -> int:
        if self.catching_up:
            return self._config.fetch_catch_up_wait_ms
        return self._config.fetch_max_wait_ms

    def commit(self, offsets: Mapping[Partition, int], timeout_ms: int) -> None:
        self.consumer.commit(
            offsets={TopicPartition(*p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()},
            timeout_ms=timeout_ms,
        )

    def seek(self, partition: Partition, offset: int) -> None:
        self.consumer.seek(TopicPartition(*partition), offset)

    def assignment(self) -> set[Partition]:
        return {Partition(tp.topic, tp.partition) for tp in self.consumer.assignment()}

    def topic_tag(self, partition: Partition) -> int:
        # The consumer's cluster metadata carries each topic's id (a UUID, new for every
        # incarnation of the topic) and refreshes itself; kafka-python offers it on the
        # cluster object only, reached through the client (version pinned).
        topic_id = self.consumer._client.cluster.topic_id(partition.topic)
        return 0 if topic_id is None else int(topic_id.int & 0xFFFFFFFF) or 1

    def highwater(self, partition: Partition) -> int | None:
        end: int | None = self.consumer.highwater(TopicPartition(*partition))
        return end

    def close(self) -> None:
        self.consumer.close()


class KafkaEventPublisher:
    """Events to the events topic, keyed by actor id, each acknowledged by the broker
    (acks=all) before `publish` returns. One producer, made on first use."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._producer: KafkaProducer | None = None

    def publish(self, events: Sequence[tuple[str, bytes]], timeout_s: float = 10.0) -> None:
        if not events:
            return
        if self._producer is None:
            self._producer = make_producer(self._config)
        deadline = time.monotonic() + timeout_s
        try:
            futures = [
                self._producer.send(self._config.events_topic, key=actor.encode(), value=body)
                for actor, body in events
            ]
            # Each call waits for its own records only: a flush would also wait for
            # every other caller's in flight on the shared producer (the API's
            # concurrent requests), so calls would queue behind each other.
            for future in futures:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as error:
            raise BrokerUnavailableError(self._config.require_bootstrap(), repr(error)) from error

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def topic_names(config: KafkaConfig) -> list[str]:
    return [
        config.events_topic,
        config.events_dlq_topic,
        config.actions_topic,
        config.actions_dlq_topic,
        config.decisions_topic,
        config.catalog_topic,
    ]


def ensure_topics(config: KafkaConfig, timeout_s: float = 30.0) -> list[str]:
    """Create engage's topics if missing; return the ones created. Waits for the broker."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(**config.client_options())
            break
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(config.require_bootstrap(), str(error)) from error
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_names(config) if t not in existing]
        if missing:
            partitions = {
                config.events_topic: config.partitions,
                config.actions_topic: config.partitions,
                config.decisions_topic: config.partitions,
            }
            # The catalogue feed keeps the latest record of each offer, whatever its age.
            configs = {config.catalog_topic: {"cleanup.policy": "compact"}}
            new = [
                NewTopic(
                    t,
                    partitions.get(t, 1),
                    config.replication_factor,
                    topic_configs=configs.get(t, {}),
                )
                for t in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
            _wait_for_metadata(admin, missing, deadline)
        return missing
    except KafkaError as error:
        raise ConfigError("ENGAGE_KAFKA_BOOTSTRAP", f"cannot create topics: {error}") from error
    finally:
        admin.close()


def _wait_for_metadata(admin: KafkaAdminClient, topics: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if set(topics) <= set(admin.list_topics()):
            return
        time.sleep(0.1)
