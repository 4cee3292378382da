"""CustomerShard: the Ray actor that hosts a `ShardHost` and its background work.

One shard process hosts many virtual customer actors. Ray restarts a shard whose process
dies (`max_restarts=-1`); the new incarnation starts empty, adopts its slots from the slot
table, re-queues its slots' undelivered actions from the outbox, and re-activates
customers from Redis as their messages arrive.

Background loops, each isolated so one failing does not stop the others: slot-table
refresh, due reminders, idle passivation, outbox recovery and rules reload.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ray

from actors.campaigns.rules_follower import RulesFollower
from actors.errors import SlotMovedError
from actors.gc_tuning import tune_gc
from actors.hosting.batch import BatchResult
from actors.hosting.recipe import ShardRecipe
from actors.hosting.wiring import build_shard
from actors.logs import configure as configure_logs
from actors.ray_metrics import REPORT_EVERY_S, SHARD_FIGURES, FigureReporter
from actors.rules.ruleset import RuleSet

log = logging.getLogger(__name__)


def shard_name(namespace_prefix: str, index: int) -> str:
    return f"{namespace_prefix}-shard-{index}"


class _Loop:
    """A periodic background job that survives its own errors."""

    def __init__(self, name: str, period_s: float, job: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self.period_s = period_s
        self.job = job
        self.errors = 0
        self.task = asyncio.get_running_loop().create_task(self._run(), name=name)

    async def _run(self) -> None:
        while True:
            try:
                await self.job()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("background job %s failed", self.name)
            await asyncio.sleep(self.period_s)


# max_concurrency: reads and reminders must not queue behind a batch (async actor).
@ray.remote(  # type: ignore[call-overload]  # Ray's stubs lack max_concurrency
    max_restarts=-1, max_task_retries=0, max_concurrency=10_000
)
class CustomerShard:
    def __init__(self, shard_id: int, recipe: ShardRecipe) -> None:
        configure_logs(kafka_level=recipe.broker.client_log_level)
        self.shard_id = shard_id
        self.config = actors = recipe.actors
        self.started_at = time.time()
        parts = build_shard(shard_id, recipe)
        self.store = parts.store
        # The rules in force: the pushed version, or the file while none is; a new version
        # goes into force between two batches (actors.campaigns.rules_follower).
        self.rules = RulesFollower(parts.rules_store, parts.rules_file, self._use_rules)
        self.scorer = parts.scorer
        self.dispatcher = parts.dispatcher
        self.host = parts.host
        self.catalog = parts.catalog
        self.table_epoch = 0
        self.metrics = FigureReporter(SHARD_FIGURES, {"shard": str(shard_id)})
        # The version in force before the first batch (a bounded read: on an outage the
        # file's rules run, and the loop below catches up).
        self.rules.refresh()
        self.rules.switch_if_idle()
        self.dispatcher.start()
        self.loops = [
            _Loop("slot-table", 1.0, self._refresh_table),
            _Loop("reminders", actors.reminder_poll_s, self.fire_reminders),
            _Loop("passivation", actors.passivation_sweep_s, self._passivate),
            _Loop("outbox-recovery", actors.outbox_recovery_s, self.host.recover_outbox),
            _Loop("rules", actors.rules_reload_s, self._follow_rules),
            _Loop("catalog", actors.catalog_poll_s, self._follow_catalog),
            _Loop("metrics", REPORT_EVERY_S, self._report_metrics),
        ]
        tune_gc()

    # ---- called by ingest and the API ------------------------------------------------

    async def process(
        self,
        raw_events: Sequence[bytes],
        positions: Sequence[int] | None = None,
        read_at: float | None = None,
        origins: Sequence[str | None] | None = None,
    ) -> BatchResult:
        if not self.host.owned_slots:
            await self._refresh_table()
        self.rules.batch_started()
        try:
            return await self.host.process(raw_events, positions, read_at, origins)
        except SlotMovedError:
            # The router may know a newer table than this shard: read it, and try once more.
            await self._refresh_table()
            return await self.host.process(raw_events, positions, read_at, origins)
        finally:
            self.rules.batch_ended()

    async def snapshot(self, customer_id: str) -> dict[str, Any]:
        return await self.host.snapshot(customer_id)

    async def offer_inputs(self, customer_id: str) -> dict[str, Any]:
        return await self.host.offer_inputs(customer_id)

    async def forget(self, customer_id: str) -> list[str]:
        kinds = [r.spec.kind for r in self.host.actor.rules.reminders]
        return await self.host.forget(customer_id, kinds)

    async def evict(self, customer_id: str) -> bool:
        return self.host.evict(customer_id)

    async def reminders_of(self, customer_id: str) -> dict[str, float]:
        from actors.storage.slots import slot_of

        return await self.store.reminders_of(slot_of(customer_id, self.config.slots), customer_id)

    async def introspect(self) -> dict[str, Any]:
        info = self.host.introspect()
        info.update(
            pid=os.getpid(),
            node_id=ray.get_runtime_context().get_node_id(),
            started_at=self.started_at,
            table_epoch=self.table_epoch,
            rules_source=self.host.actor.rules.source,
            rules_error=self.rules.error,
            rules=self.rules.status(),
            catalog=self.catalog.status(),
            scoring_ms=self.scorer.latency_ms.to_dict(),
            score_distributions={
                model: histogram.to_dict() for model, histogram in self.scorer.distributions.items()
            },
            feature_counts={
                model: counter.to_list() for model, counter in self.scorer.feature_counts.items()
            },
            background_errors={loop.name: loop.errors for loop in self.loops},
        )
        return info

    async def _report_metrics(self) -> None:
        self.metrics.report(self.host.introspect())

    async def pid(self) -> int:
        return os.getpid()

    async def ping(self) -> bool:
        return True

    async def refresh(self) -> int:
        """Adopt the current slot table now (after `engage scale`); returns its epoch."""
        await self._refresh_table()
        return self.table_epoch

    async def drain(self, timeout_s: float = 10.0) -> bool:
        return await self.dispatcher.drain(timeout_s)

    async def fire_reminders(self) -> int:
        # A round of reminder turns runs under one version of the rules, as a batch does.
        self.rules.batch_started()
        try:
            return await self.host.fire_due_reminders()
        finally:
            self.rules.batch_ended()

    # ---- background ----------------------------------------------------------------------

    async def _refresh_table(self) -> None:
        table = await self.store.load_slot_table()
        if table is None or table.epoch == self.table_epoch:
            await self.host.release_lost_slots()  # any still owed
            return
        self.host.set_owned_slots(set(table.slots_of(self.shard_id)), table.epoch)
        await self.host.release_lost_slots()
        first = self.table_epoch == 0
        self.table_epoch = table.epoch
        if first:
            await self.host.recover_outbox()

    async def _passivate(self) -> None:
        self.host.passivate()

    async def _follow_catalog(self) -> None:
        await asyncio.to_thread(self.catalog.refresh)

    async def _follow_rules(self) -> None:
        await asyncio.to_thread(self.rules.refresh)
        self.rules.switch_if_idle()

    def _use_rules(self, rules: RuleSet) -> None:
        self.host.actor.rules = rules
        log.info("rules loaded from %s (%d rules)", rules.source, len(rules.rules))
