"""The Ingest deployment: each replica runs one consumer-group consumer of engage.events.

The consumer loop (actors.ingest.IngestLoop) runs in a background thread of the replica;
Serve restarts a replica whose health check fails, and the consumer group hands its
partitions to the other replicas meanwhile. Scale ingest by replicas up to the number of
partitions of engage.events.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from kafka import KafkaProducer
from ray import serve

from actors.brokers.amqp import AmqpConsumer, AmqpDeadLetters, events_log
from actors.brokers.dead_letters import KafkaDeadLetters
from actors.brokers.kafka import KafkaEventsConsumer, make_producer
from actors.config import ActorConfig, KafkaConfig, RabbitMQConfig, RedisConfig, SinkConfig
from actors.gc_tuning import tune_gc
from actors.hosting.router import ShardRouter, ensure_shards
from actors.ingest import EventDeadLetters, IngestLoop
from actors.logs import configure as configure_logs
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from actors.turn.scoring import Scorer

log = logging.getLogger(__name__)

STATS_EVERY_S = 2.0
STATS_TTL_S = 15


@serve.deployment(
    name="Ingest",
    ray_actor_options={"num_cpus": 0},
    health_check_period_s=5,
    health_check_timeout_s=30,
    graceful_shutdown_timeout_s=20,
)
class Ingest:
    def __init__(
        self,
        namespace: str,
        actors: ActorConfig,
        redis_config: RedisConfig,
        kafka: KafkaConfig,
        sinks: SinkConfig,
        scorer_factory: Callable[[], Scorer],
        rabbitmq: RabbitMQConfig | None = None,
    ) -> None:
        configure_logs(kafka_level=kafka.log_level)
        ensure_shards(namespace, actors, redis_config, kafka, sinks, scorer_factory)
        self.router = ShardRouter(namespace, actors, redis_config)
        self.consumer: Any
        dead_letters: EventDeadLetters
        self.producer: KafkaProducer | None = None
        if rabbitmq is None:
            self.consumer = KafkaEventsConsumer(kafka)
            self.producer = make_producer(kafka)
            dead_letters = KafkaDeadLetters(
                self.producer, kafka.events_dlq_topic, kafka.actions_dlq_topic
            )
        else:
            url = rabbitmq.require_url()
            self.consumer = AmqpConsumer(
                url,
                rabbitmq.events_exchange,
                rabbitmq.events_queues,
                rabbitmq.events_dlq,
                prefetch=rabbitmq.prefetch,
                timeout_s=rabbitmq.timeout_s,
                log=events_log(rabbitmq),
            )
            dead_letters = AmqpDeadLetters(url, rabbitmq.events_dlq, rabbitmq.timeout_s)
        self.loop = IngestLoop(
            self.consumer,
            self.router,
            dead_letters,
            poll_timeout_ms=kafka.poll_timeout_ms,
            max_records=kafka.max_poll_records,
            retry_s=actors.ingest_retry_s,
            commit_timeout_ms=kafka.commit_timeout_ms,
            poison_after=actors.ingest_poison_after,
            event_time=actors.event_time_bounds(),
        )
        self.thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self.thread.start()
        self.replica = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stats_redis = connect(redis_config.require_url(), redis_config.socket_timeout_s)
        self.keys = Keys(redis_config.prefix)
        self.stats_key = self.keys.ingest_figures(self.replica)
        self.publisher = threading.Thread(target=self._publish, name="ingest-stats", daemon=True)
        self.publisher.start()
        tune_gc()

    def _publish(self) -> None:
        """Every replica's figures in Redis, so the API can sum them (any replica answers
        a handle call, so asking through Serve would show one replica at a time)."""
        while not self.loop.stopped:
            try:
                now = time.time()
                with self.stats_redis.pipeline(transaction=False) as pipe:
                    pipe.set(self.stats_key, json.dumps(self.loop.stats.to_dict()), ex=STATS_TTL_S)
                    pipe.zadd(self.keys.ingest_replicas(), {self.replica: now})
                    pipe.zremrangebyscore(self.keys.ingest_replicas(), "-inf", now - STATS_TTL_S)
                    pipe.execute()
            except redis.RedisError:
                log.warning("cannot publish ingest figures")
            time.sleep(STATS_EVERY_S)

    def _run(self) -> None:
        try:
            self.loop.run()
        finally:
            self.consumer.close()
            if self.producer is not None:
                self.producer.close(timeout=5)

    def check_health(self) -> None:
        if not self.thread.is_alive():
            raise RuntimeError("ingest loop stopped")

    def stats(self) -> dict[str, Any]:
        return self.loop.stats.to_dict()

    def pid(self) -> int:
        return os.getpid()

    def __del__(self) -> None:
        self.loop.stop()
        if self.thread.is_alive():
            self.thread.join(timeout=15)
