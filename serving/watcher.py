"""Hot swap: keep a process's models in step with the registry's aliases.

A background task polls the registry's epoch (a counter every alias change bumps). When
it moves, the new versions are loaded in a worker thread, off the request path, their
feature version is checked, and the process's `ModelSet` reference is replaced in one
assignment. Requests in flight finish on the old set; the next ones use the new. A
version that fails to load is reported and the old set keeps serving.

Used by the Scorer deployment (the actors' batched scoring) and by the API replicas
(next-best-offer), so both swap the same way and at the same time.

Nothing here blocks its caller's event loop on Redis: the registry is read in a worker
thread, and shadow scores are queued (bounded) and written by the watcher's own task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

import redis

from actors.errors import EngageError
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from serving.model_set import Shadow, load_model_set, shadow_record
from training.registry import ModelRegistry

log = logging.getLogger(__name__)

SHADOW_LOG_LENGTH = 10_000
# Shadow records waiting for the watcher's task to write them; past it they are dropped
# (counted): the shadow log samples live traffic, it is not a record of every request.
SHADOW_QUEUE = 2_000


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
        self.shadow_dropped = 0
        self._shadow: deque[tuple[str, str]] = deque()
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
            "shadow_dropped": self.shadow_dropped,
        }

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self._write_shadow()
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
        """Champion and challenger scores side by side, for `engage models compare`: queued
        here without waiting (the caller is on an event loop), written by `_watch`."""
        now = time.time()
        for name, champion, challenger, mine, theirs in shadow[:200]:
            if len(self._shadow) >= SHADOW_QUEUE:
                self.shadow_dropped += 1
                continue
            record = shadow_record(now, champion, challenger, mine, theirs)
            self._shadow.append((self._keys.shadow(name), json.dumps(record)))

    async def _write_shadow(self) -> None:
        if not self._shadow:
            return
        pending = list(self._shadow)
        self._shadow.clear()
        try:
            await asyncio.to_thread(self._write_shadow_blocking, pending)
        except redis.RedisError:
            self.shadow_dropped += len(pending)
            log.warning("shadow log unavailable; %d shadow scores dropped", len(pending))

    def _write_shadow_blocking(self, records: list[tuple[str, str]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key in sorted({k for k, _ in records}):
            pipe.lpush(key, *[r for k, r in records if k == key])
            pipe.ltrim(key, 0, SHADOW_LOG_LENGTH - 1)
        pipe.execute()
