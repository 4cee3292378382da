"""Hot swap: keep a process's models in step with the registry's aliases.

A background task polls the registry's epoch (a counter every alias change bumps). When
it moves, the new versions are loaded in a worker thread, off the request path, their
feature version is checked, and the process's `ModelSet` reference is replaced in one
assignment. Requests in flight finish on the old set; the next ones use the new. A
version that fails to load is reported and the old set keeps serving.

Used by the Scorer deployment (the actors' batched scoring) and by the API replicas
(next-best-offer), so both swap the same way and at the same time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import redis

from actors.errors import EngageError
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from serving.model_set import Shadow, load_model_set, shadow_record
from training.registry import ModelRegistry

log = logging.getLogger(__name__)

SHADOW_LOG_LENGTH = 10_000


class ModelWatcher:
    def __init__(self, redis_url: str, prefix: str, poll_s: float = 0.5) -> None:
        self._registry = ModelRegistry(redis_url, prefix)
        self._redis = connect(redis_url)
        self._keys = Keys(prefix)
        self.poll_s = poll_s
        self.epoch = self._registry.epoch()
        self.models = load_model_set(self._registry)
        self.swaps = 0
        self.last_swap_error: str | None = None
        self._task = asyncio.get_running_loop().create_task(self._watch())

    @property
    def healthy(self) -> bool:
        return not (self._task.done() and not self._task.cancelled())

    def status(self) -> dict[str, Any]:
        return {
            "versions": self.models.versions(),
            "epoch": self.epoch,
            "swaps": self.swaps,
            "last_swap_error": self.last_swap_error,
        }

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                epoch = await asyncio.to_thread(self._registry.epoch)
                if epoch == self.epoch:
                    continue
                fresh = await asyncio.to_thread(load_model_set, self._registry, self.models)
                self.models = fresh  # the swap: one reference assignment
                self.epoch = epoch
                self.swaps += 1
                self.last_swap_error = None
                log.info("models now %s", fresh.versions())
            except EngageError as error:
                self.last_swap_error = str(error)
                log.error("model swap refused, old models keep serving: %s", error)
            except redis.RedisError as error:
                self.last_swap_error = f"registry unreachable: {error}"

    def log_shadow(self, shadow: list[Shadow]) -> None:
        """Champion and challenger scores side by side, for `engage models compare`."""
        now = time.time()
        try:
            pipe = self._redis.pipeline(transaction=False)
            for name, champion, challenger, mine, theirs in shadow[:200]:
                key = self._keys.shadow(name)
                pipe.lpush(key, json.dumps(shadow_record(now, champion, challenger, mine, theirs)))
                pipe.ltrim(key, 0, SHADOW_LOG_LENGTH - 1)
            pipe.execute()
        except redis.RedisError:
            log.warning("shadow log unavailable; shadow scores dropped")
