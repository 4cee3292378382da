"""What a shard is made of, named once.

Built from the settings at an entry point and handed as one argument to every shard, to
the supervisor that starts them and to ingest, which starts them on its first deploy.
Frozen and plain: it travels to Ray actors and is compared by value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from actors.brokers.base import Broker
from actors.config import ActorConfig, RedisConfig, SinkConfig
from actors.turn.scoring import Scorer


@dataclass(frozen=True)
class ShardRecipe:
    namespace: str  # the Ray namespace the named shard actors live in
    actors: ActorConfig
    redis: RedisConfig
    broker: Broker
    sinks: SinkConfig
    scorer_factory: Callable[[], Scorer]

    @property
    def prefix(self) -> str:
        return self.redis.prefix
