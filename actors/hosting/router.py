"""Routing customers to their shard, and creating the shards.

The router reads the slot table from Redis (refreshing it when asked, or at most every
second), resolves the named `CustomerShard` actors, and sends each shard one call per
batch. Ingest uses the blocking `process` from its own thread; the API uses the async
`call` and `each_shard`, which never wait for Redis: on an event loop a paused Redis would
hold every request of the replica, collection included, so their refresh runs in a worker
thread in the background and they route by the table they have.

A table missing from Redis (a restart without persistence, a flush) is written back by the
first router that finds it gone, from the table it routes by (the next epoch, so every
shard takes it), or from the configured shards when it never had one. Nothing waits for an
operator in silence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray
import redis
from ray.exceptions import RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.config import ActorConfig, RedisConfig
from actors.errors import ShardUnavailableError, StoreUnavailableError
from actors.hosting.batch import BatchResult
from actors.hosting.recipe import ShardRecipe
from actors.hosting.shard import shard_name
from actors.hosting.supervisor import (
    ShardSupervisor,
    alive_nodes,
    head_node,
    start_shard,
    supervisor_name,
)
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from actors.storage.slots import SlotTable, slot_of

log = logging.getLogger(__name__)


def ensure_slot_table(redis_config: RedisConfig, actors: ActorConfig) -> SlotTable:
    """The current table; creates the initial one (all configured shards) if none exists."""
    client = connect(redis_config.require_url(), redis_config.socket_timeout_s)
    key = Keys(redis_config.prefix).slot_table()
    try:
        initial = SlotTable.initial(actors.slots, actors.shards)
        client.set(key, initial.to_json(), nx=True)
        raw = client.get(key)
        if raw is None:  # deleted between the two calls (someone reset the deployment)
            raise ShardUnavailableError(-1, "the slot table vanished while it was created")
        table = SlotTable.from_json(raw)
    finally:
        client.close()
    if len(table.owners) != actors.slots:
        raise RuntimeError(
            f"slot table has {len(table.owners)} slots but ENGAGE_ACTORS_SLOTS={actors.slots};"
            " the slot count is fixed for the life of a deployment"
        )
    return table


def ensure_shards(recipe: ShardRecipe, shard_ids: Sequence[int] | None = None) -> dict[int, Any]:
    """Get or create the named shard actors (detached: they outlive their creator), spread
    over the cluster's nodes, and the supervisor that moves slots when nodes go away."""
    table = ensure_slot_table(recipe.redis, recipe.actors)
    ids = list(shard_ids) if shard_ids is not None else table.shards
    nodes = alive_nodes()
    handles = {}
    for index in ids:
        handles[index] = start_shard(index, nodes[index % len(nodes)], recipe)
    # On the head, which every other node can leave without taking supervision (and the
    # lost shards it has counted) with it. Pinned hard: Ray 2.60 honours a soft affinity
    # of an actor of no CPU only now and then, and a cluster without its head is gone.
    head = head_node()
    placement = NodeAffinitySchedulingStrategy(head, soft=False) if head else "DEFAULT"
    supervisor = ShardSupervisor.options(  # type: ignore[attr-defined]
        name=supervisor_name(recipe.prefix),
        namespace=recipe.namespace,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        scheduling_strategy=placement,
    ).remote(recipe)
    ray.get([h.ping.remote() for h in handles.values()] + [supervisor.ping.remote()])
    return handles


def shard_failure(shard: int, error: RayError) -> Exception:
    """An error the shard's own code raised (Ray wraps it in a RayTaskError) is that
    error; any other Ray error is about the shard's process, its node or the call (died,
    unschedulable on a node that left, timed out, object lost): the shard is unavailable,
    an outage the batch waits out, never a reason to dead-letter its events."""
    if isinstance(error, RayTaskError):
        cause = error.cause
        return cause if isinstance(cause, Exception) else error
    return ShardUnavailableError(shard, f"{type(error).__name__}: {error}")


class ShardRouter:
    def __init__(
        self,
        namespace: str,
        actors: ActorConfig,
        redis_config: RedisConfig,
        refresh_s: float = 1.0,
    ) -> None:
        self.namespace = namespace
        self.slots = actors.slots
        self.shards = actors.shards
        self.prefix = redis_config.prefix
        self._redis = connect(redis_config.require_url(), redis_config.socket_timeout_s)
        self._key = Keys(redis_config.prefix).slot_table()
        self._refresh_s = refresh_s
        self._checked = 0.0
        self._handles: dict[int, Any] = {}
        self._refreshing: asyncio.Future[None] | None = None
        self.rebuilds = 0
        # The last background refresh's failure, if it failed (reported, never raised into
        # a request: the request routes by the table it has).
        self.refresh_error: str | None = None
        self.table = self._load(None)

    def _load(self, known: SlotTable | None) -> SlotTable:
        try:
            raw = self._redis.get(self._key)
            if raw is None:
                raw = self._rebuild(known)
        except redis.RedisError as error:
            raise StoreUnavailableError("slot table", str(error)) from error
        return SlotTable.from_json(raw)

    def _rebuild(self, known: SlotTable | None) -> bytes:
        """Write the table back (unless another router did first); the table now stored."""
        table = known.successor() if known is not None else None
        if table is None or len(table.owners) != self.slots:
            table = SlotTable.initial(self.slots, self.shards)
        if self._redis.set(self._key, table.to_json(), nx=True):
            self.rebuilds += 1
            log.warning(
                "the slot table was missing from Redis; written back at epoch %d", table.epoch
            )
        raw = self._redis.get(self._key)
        if raw is None:  # deleted again at once: route by what was just written
            return table.to_json().encode()
        return raw if isinstance(raw, bytes) else raw.encode()

    @property
    def epoch(self) -> int:
        """The epoch of the slot table this router routes by."""
        return self.table.epoch

    def refresh(self, force: bool = False) -> SlotTable:
        """The current table, read again if `refresh_s` passed (blocking: ingest's thread)."""
        now = time.monotonic()
        if force or now - self._checked >= self._refresh_s:
            self._checked = now
            table = self._load(self.table)
            if table.epoch != self.table.epoch:
                log.info("slot table epoch %d -> %d", self.table.epoch, table.epoch)
                self.table = table
        return self.table

    def refresh_soon(self) -> None:
        """`refresh` in a worker thread, started if due and none is running; never waits
        (the API's event loop)."""
        if time.monotonic() - self._checked < self._refresh_s:
            return
        if self._refreshing is not None and not self._refreshing.done():
            return
        self._refreshing = asyncio.ensure_future(asyncio.to_thread(self._refresh_quietly))

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
            self.refresh_error = None
        except (StoreUnavailableError, ValueError) as error:
            self.refresh_error = str(error)

    def shard_for(self, customer_id: str) -> int:
        return self.table.owner(slot_of(customer_id, self.slots))

    def handle(self, shard: int) -> Any:
        handle = self._handles.get(shard)
        if handle is None:
            try:
                handle = ray.get_actor(shard_name(self.prefix, shard), namespace=self.namespace)
            except ValueError as error:
                raise ShardUnavailableError(shard, str(error)) from error
            self._handles[shard] = handle
        return handle

    def forget_handle(self, shard: int) -> None:
        self._handles.pop(shard, None)

    def group(self, customers_and_payloads: Sequence[tuple[str, bytes]]) -> dict[int, list[int]]:
        """Indices of the payloads, grouped by the shard owning each customer."""
        groups: dict[int, list[int]] = {}
        for i, (customer_id, _) in enumerate(customers_and_payloads):
            groups.setdefault(self.shard_for(customer_id), []).append(i)
        return groups

    def process(
        self,
        batches: Mapping[int, list[bytes]],
        positions: Mapping[int, list[int]] | None = None,
        read_at: float | None = None,
        origins: Mapping[int, list[str | None]] | None = None,
        timeout_s: float = 30.0,
    ) -> dict[int, BatchResult | Exception]:
        """Send every shard its batch at once, then wait for all; errors are returned."""
        refs: dict[int, Any] = {}
        results: dict[int, BatchResult | Exception] = {}
        for shard, payloads in batches.items():
            where = positions.get(shard) if positions is not None else None
            came = origins.get(shard) if origins is not None else None
            if came is not None and not any(came):
                came = None  # the usual case: nothing sent on, nothing to ship
            try:
                refs[shard] = self.handle(shard).process.remote(payloads, where, read_at, came)
            except ShardUnavailableError as error:
                results[shard] = error
        for shard, ref in refs.items():
            try:
                results[shard] = ray.get(ref, timeout=timeout_s)
            except RayError as error:
                results[shard] = self._failure(shard, error)
        return results

    def _failure(self, shard: int, error: RayError) -> Exception:
        """What a failed call to a shard means for its batch (see `shard_failure`)."""
        failure = shard_failure(shard, error)
        if isinstance(failure, ShardUnavailableError):
            self.forget_handle(shard)
        return failure

    async def call(self, customer_id: str, method: str, *args: Any) -> Any:
        """Call a shard method for one customer (API reads, forget)."""
        self.refresh_soon()
        shard = self.shard_for(customer_id)
        try:
            return await getattr(self.handle(shard), method).remote(customer_id, *args)
        except RayError as error:
            raise self._failure(shard, error) from error

    async def each_shard(self, method: str, *args: Any) -> dict[int, Any]:
        self.refresh_soon()
        out: dict[int, Any] = {}
        for shard in self.table.shards:
            try:
                out[shard] = await getattr(self.handle(shard), method).remote(*args)
            except (RayError, ShardUnavailableError) as error:
                self.forget_handle(shard)
                out[shard] = {"shard": shard, "error": str(error)}
        return out

    def close(self) -> None:
        self._redis.close()
