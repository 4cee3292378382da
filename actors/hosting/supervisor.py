"""ShardSupervisor: keeps the slot table in step with the shards that exist.

Shards are pinned to nodes (one node's shards host that node's share of the slots). When
a node leaves the cluster its shards cannot come back; the supervisor notices (a call to
the shard fails as unschedulable or dead) and moves their slots to the surviving shards.
Their customers re-activate from Redis on the new owners, and ingest, which keeps
retrying the events of a lost shard, regroups them on the new table. A shard whose
process merely died is restarted by Ray on its node and keeps its slots.

`scale(n)` adds shards (on the nodes hosting the fewest) or retires the newest ones, and
moves only the slots that must move. Every change bumps the table's epoch; routers and
shards pick it up within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import ray
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    ActorUnschedulableError,
    GetTimeoutError,
    RayActorError,
)
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.errors import ShardUnavailableError
from actors.hosting.recipe import ShardRecipe
from actors.hosting.shard import CustomerShard, shard_name
from actors.logs import configure as configure_logs
from actors.storage.redis_store import RedisStateStore
from actors.storage.slots import SlotTable

# How long a scale waits for a shard Ray is restarting before it gives up on the scale.
RESTART_WAIT_S = 120.0

log = logging.getLogger(__name__)

LOST = (ActorUnschedulableError, ActorDiedError)


def supervisor_name(prefix: str) -> str:
    return f"{prefix}-supervisor"


def alive_nodes() -> list[str]:
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return sorted(n["NodeID"] for n in nodes if n["Alive"])


def head_node() -> str | None:
    """The head node's id (None if Ray names none: a cluster being torn down)."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    for node in nodes:
        if node["Alive"] and "node:__internal_head__" in node.get("Resources", {}):
            return str(node["NodeID"])
    return None


def start_shard(index: int, node_id: str, recipe: ShardRecipe) -> Any:
    """Get or create the named, detached shard `index`, pinned to `node_id`."""
    return CustomerShard.options(  # type: ignore[attr-defined]
        name=shard_name(recipe.prefix, index),
        namespace=recipe.namespace,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=recipe.actors.shard_cpus,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    ).remote(index, recipe)


# Supervision must outlive any node but the head; it restarts like a shard.
@ray.remote(max_restarts=-1, max_concurrency=64)  # type: ignore[call-overload]
class ShardSupervisor:
    def __init__(self, recipe: ShardRecipe, check_s: float = 2.0) -> None:
        configure_logs(kafka_level=recipe.broker.client_log_level)
        self.recipe = recipe
        self.namespace = recipe.namespace
        self.prefix = recipe.prefix
        self.store = RedisStateStore(recipe.redis.require_url(), recipe.prefix)
        self.check_s = check_s
        self.moves = 0
        self.refresh_failures = 0
        self.lost: list[int] = []
        self._lock = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    def _handle(self, shard: int) -> Any:
        return ray.get_actor(shard_name(self.prefix, shard), namespace=self.namespace)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.check()
            except Exception:
                log.exception("shard check failed")

    async def _probe(self, shard: int) -> str:
        """alive, lost (cannot come back), or unknown (slow, restarting)."""
        try:
            handle = self._handle(shard)
        except ValueError:
            return "lost"  # a detached actor that died for good has no name any more
        try:
            await asyncio.wait_for(handle.ping.remote(), timeout=5.0)
        except LOST:
            return "lost"
        except (TimeoutError, GetTimeoutError, RayActorError):
            return "unknown"
        return "alive"

    async def check(self) -> list[int]:
        """Move the slots of lost shards to the others; returns the shards lost now."""
        async with self._lock:
            table = await self.store.load_slot_table()
            if table is None:
                return []
            states = await asyncio.gather(*(self._probe(s) for s in table.shards))
            lost = [s for s, state in zip(table.shards, states, strict=True) if state == "lost"]
            survivors = [
                s for s, state in zip(table.shards, states, strict=True) if state != "lost"
            ]
            if not lost or not survivors:
                return []
            new = table.rebalance(survivors)
            if not await self._save(table, new):
                return []
            # Said as soon as it is true: ingest may route by the new table from now on,
            # and the refreshes below can take seconds.
            self.lost += lost
            log.warning("shards %s lost; their slots moved to %s", lost, survivors)
            await self._hurry_all(new)
            return lost

    async def _adopt(self, old: SlotTable, new: SlotTable) -> None:
        if await self._save(old, new):
            await self._hurry_all(new)

    async def _save(self, old: SlotTable, new: SlotTable) -> bool:
        """Store `new` in place of `old`; False when there is nothing to change."""
        if new is old:
            return False
        if not await self.store.save_slot_table(new, old.epoch):
            raise RuntimeError("slot table changed concurrently; will retry")
        self.moves += 1
        return True

    async def _hurry_all(self, table: SlotTable) -> None:
        await asyncio.gather(*(self._hurry(shard) for shard in table.shards))

    async def _hurry(self, shard: int) -> None:
        try:
            await asyncio.wait_for(self._handle(shard).refresh.remote(), timeout=5.0)
        except Exception as error:
            # Not lost: every shard reads the slot table itself each second
            # (actors.hosting.shard) and takes the new one then; this call only hurries it.
            self.refresh_failures += 1
            log.warning("shard %s did not take the new slot table now: %s", shard, error)

    async def scale(self, shards: int) -> dict[str, Any]:
        """Run exactly `shards` shards: add (spread over nodes) or retire the newest."""
        if shards < 1:
            raise ValueError("at least one shard")
        async with self._lock:
            table = await self.store.load_slot_table()
            if table is None:
                raise ShardUnavailableError(-1, "no slot table in Redis; is engage deployed?")
            current = table.shards
            if shards > len(current):
                placed = Counter(await asyncio.gather(*(self._node_of(s) for s in current)))
                nodes = alive_nodes()
                added = []
                for index in range(max(current) + 1, max(current) + 1 + shards - len(current)):
                    node = min(nodes, key=lambda n: (placed[n], n))
                    placed[node] += 1
                    handle = start_shard(index, node, self.recipe)
                    await handle.ping.remote()
                    added.append(index)
                await self._adopt(table, table.rebalance(current + added))
                return {"shards": current + added, "added": added, "epoch": table.epoch + 1}
            keep = sorted(current)[:shards]
            retired = sorted(current)[shards:]
            await self._adopt(table, table.rebalance(keep))
            # Retired shards own no slot now; give in-flight work time to finish.
            await asyncio.sleep(5.0)
            undrained = []
            for shard in retired:
                try:
                    drained = await asyncio.wait_for(
                        self._handle(shard).drain.remote(10.0), timeout=15.0
                    )
                except Exception as error:
                    log.warning("retired shard %s could not drain: %s", shard, error)
                    drained = False
                if not drained:
                    # What it still held is in its slots' outboxes: their new owners
                    # deliver it (outbox recovery), so stopping it loses nothing.
                    undrained.append(shard)
                with contextlib.suppress(ValueError):  # already gone: nothing to stop
                    ray.kill(self._handle(shard), no_restart=True)
            return {"shards": keep, "retired": retired, "undrained": undrained}

    async def _node_of(self, shard: int, wait_s: float = RESTART_WAIT_S) -> str:
        """The node a shard runs on; a shard Ray is restarting (a crash moments ago) is
        waited for, up to `wait_s`, then reported unavailable."""
        deadline = asyncio.get_running_loop().time() + wait_s
        delay = 0.2
        while True:
            try:
                info = await self._handle(shard).introspect.remote()
                return str(info["node_id"])
            except ActorUnavailableError as error:
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise ShardUnavailableError(shard, f"still restarting: {error}") from error
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def status(self) -> dict[str, Any]:
        table = await self.store.load_slot_table()
        return {
            "epoch": table.epoch if table else None,
            "shards": table.shards if table else [],
            "slot_moves": self.moves,
            "refresh_failures": self.refresh_failures,
            "lost": list(self.lost),
        }

    async def ping(self) -> bool:
        return True
