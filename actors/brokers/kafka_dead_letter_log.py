"""Kafka's dead-letter topics read back and replayed (actors.brokers.dead_letter_log)."""

from __future__ import annotations

from kafka.errors import KafkaError

from actors.brokers.dead_letter_log import REPLAY_OF, DeadLetter, DeadLetterKind
from actors.brokers.kafka import make_producer
from actors.brokers.kafka_reader import read_records
from actors.config import KafkaConfig
from actors.errors import BrokerUnavailableError, TrainingDataError


class KafkaDeadLetterLog:
    """`engage.events.dlq` or `engage.actions.dlq`; a record's id is `partition:offset`,
    which the topic keeps for as long as it keeps the record."""

    def __init__(self, config: KafkaConfig, kind: DeadLetterKind) -> None:
        self.kind: DeadLetterKind = kind
        self._config = config
        self._topic = config.events_dlq_topic if kind == "events" else config.actions_dlq_topic

    @property
    def where(self) -> str:
        return self._topic

    def read(self, limit: int, timeout_s: float = 30.0) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        try:
            for record in read_records(self._config, self._topic, None, None, None, timeout_s, {}):
                letters.append(
                    DeadLetter(
                        kind=self.kind,
                        id=f"{record.partition}:{record.offset}",
                        value=record.value or b"",
                        key=record.key,
                        headers={k: v.decode(errors="replace") for k, v in record.headers or []},
                        stored_at=record.timestamp / 1000 if record.timestamp >= 0 else None,
                    )
                )
        except TrainingDataError as error:  # the topic is missing: nothing dead-lettered yet
            if "does not exist" not in str(error):
                raise
        # Oldest first across partitions, by when each failed.
        letters.sort(key=lambda letter: (letter.failed_at or 0.0, letter.id))
        return letters[:limit]

    def republish_event(self, letter: DeadLetter, timeout_s: float = 10.0) -> None:
        try:
            producer = make_producer(self._config)
        except KafkaError as error:
            raise BrokerUnavailableError(self._config.require_bootstrap(), repr(error)) from error
        try:
            producer.send(
                self._config.events_topic,
                key=letter.key,
                value=letter.value,
                headers=[(REPLAY_OF, f"{self._topic}/{letter.id}".encode())],
            ).get(timeout=timeout_s)
        except KafkaError as error:
            raise BrokerUnavailableError(self._config.require_bootstrap(), repr(error)) from error
        finally:
            producer.close(timeout=5)
