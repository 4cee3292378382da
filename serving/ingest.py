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
from typing import Any

import redis
from ray import serve

from actors.config import KafkaConfig
from actors.gc_tuning import tune_gc
from actors.hosting.recipe import ShardRecipe
from actors.hosting.router import ShardRouter, ensure_shards
from actors.ingest import IngestLoop
from actors.logs import configure as configure_logs
from actors.ray_metrics import INGEST_FIGURES, FigureReporter
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect

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
    def __init__(self, recipe: ShardRecipe, polling: KafkaConfig) -> None:
        """`polling`: how long a poll waits, how many records it takes and how long a
        commit may take (ENGAGE_KAFKA_POLL_TIMEOUT_MS, _MAX_POLL_RECORDS,
        _COMMIT_TIMEOUT_MS: the loop's settings on either broker)."""
        broker = recipe.broker
        configure_logs(kafka_level=broker.client_log_level)
        ensure_shards(recipe)
        self.broker = broker
        self.router = ShardRouter(recipe.namespace, recipe.actors, recipe.redis)
        self.consumer = broker.consumer()
        actors = recipe.actors
        self.loop = IngestLoop(
            self.consumer,
            self.router,
            broker.event_dead_letters(),
            poll_timeout_ms=polling.poll_timeout_ms,
            max_records=polling.max_poll_records,
            retry_s=actors.ingest_retry_s,
            commit_timeout_ms=polling.commit_timeout_ms,
            poison_after=actors.ingest_poison_after,
            event_time=actors.event_time_bounds(),
        )
        self.stall_restart_s = actors.ingest_stall_restart_s
        self.thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self.thread.start()
        self.replica = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        redis_config = recipe.redis
        self.stats_redis = connect(redis_config.require_url(), redis_config.socket_timeout_s)
        self.keys = Keys(redis_config.prefix)
        self.stats_key = self.keys.ingest_figures(self.replica)
        self.metrics = FigureReporter(INGEST_FIGURES, {"replica": self.replica})
        self.publisher = threading.Thread(target=self._publish, name="ingest-stats", daemon=True)
        self.publisher.start()
        tune_gc()

    def _publish(self) -> None:
        """Every replica's figures in Redis, so the API can sum them (any replica answers
        a handle call, so asking through Serve would show one replica at a time)."""
        while not self.loop.stopped:
            figures = self.loop.stats.to_dict()
            try:
                now = time.time()
                with self.stats_redis.pipeline(transaction=False) as pipe:
                    pipe.set(self.stats_key, json.dumps(figures), ex=STATS_TTL_S)
                    pipe.zadd(self.keys.ingest_replicas(), {self.replica: now})
                    pipe.zremrangebyscore(self.keys.ingest_replicas(), "-inf", now - STATS_TTL_S)
                    pipe.execute()
            except redis.RedisError:
                log.warning("cannot publish ingest figures")
            self.metrics.report(figures)
            time.sleep(STATS_EVERY_S)

    def _run(self) -> None:
        try:
            self.loop.run()
        finally:
            self.consumer.close()
            self.broker.close()

    def check_health(self) -> None:
        """Fails when the loop died, or has made no progress for longer than
        `ENGAGE_ACTORS_INGEST_STALL_RESTART_S` (Serve then restarts the replica; a stall
        shorter than that is reported, not restarted)."""
        if not self.thread.is_alive():
            raise RuntimeError("ingest loop stopped")
        stalled = self.loop.stats.stalled_s()
        if stalled > self.stall_restart_s:
            raise RuntimeError(
                f"ingest made no progress for {stalled:.0f}s: {self.loop.stats.last_error}"
            )

    def stats(self) -> dict[str, Any]:
        return self.loop.stats.to_dict()

    def pid(self) -> int:
        return os.getpid()

    def __del__(self) -> None:
        self.loop.stop()
        if self.thread.is_alive():
            self.thread.join(timeout=15)
