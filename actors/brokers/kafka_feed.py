"""The catalogue feed on Kafka (actors.catalog.feed): the compacted `engage.catalog`
topic, read by one member of the `<group>-catalog` consumer group at a time."""

from __future__ import annotations

from kafka.errors import KafkaError

from actors.brokers.kafka import make_consumer
from actors.catalog.feed import FeedRecord
from actors.config import KafkaConfig
from actors.errors import BrokerUnavailableError


class KafkaFeedConsumer:
    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._consumer = make_consumer(
            config, config.catalog_topic, group_id=f"{config.group_id}-catalog"
        )

    def poll(self, timeout_s: float) -> list[FeedRecord]:
        try:
            polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        except KafkaError as error:
            raise BrokerUnavailableError(self._config.require_bootstrap(), repr(error)) from error
        records = []
        for partition, batch in sorted(polled.items(), key=lambda item: item[0].partition):
            for r in batch:
                where = f"{partition.topic}[{partition.partition}]@{r.offset}"
                records.append(FeedRecord(r.key, r.value, where))
        return records

    def commit(self) -> None:
        try:
            self._consumer.commit()
        except KafkaError as error:
            raise BrokerUnavailableError(self._config.require_bootstrap(), repr(error)) from error

    def close(self) -> None:
        self._consumer.close(autocommit=False)
