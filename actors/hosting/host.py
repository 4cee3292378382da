"""ShardHost: hosts many virtual customer actors in one process.

This is the Ray-free core of a `CustomerShard` (actors.hosting.shard wraps it in a Ray actor). It
activates customers from the store on their first message, runs their turns one at a time
per customer and concurrently across customers, saves state and effects before it acks,
and passivates customers that are idle or least recently used.

Checkpoint order for a batch (`process`):

1. parse the batch and group events by customer, keeping their order; a batch holding a
   customer of a slot this shard does not own is refused whole (SlotMovedError: the
   router routed by an older table), before any turn;
2. lock the batch's customers (sorted order, so concurrent batches cannot deadlock);
3. activate the ones not live, with one store round trip for all of them;
4. score ahead the rows of customers with several scored events in the batch
   (actors.turn.prefetch) and start every customer's turns in the same tick: the coalescing
   scorer carries those rows and each other customer's one row in one request per model;
   each customer's events run in order, customers concurrently;
5. commit every changed customer's state, outbox actions and reminders in one pipeline,
   compare-and-set on each state's version; a conflict means another host wrote: reload
   that customer and run its events again (applied-event ids make that idempotent);
6. hand the saved actions to the dispatcher (waits when its queue is full);
7. release the locks and ack: only now may ingest commit the offsets.

If anything fails before step 5 completes, the batch's customers are dropped from memory
(their unsaved changes with them) and the error goes to ingest, which retries the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from actors.config import ActorConfig
from actors.delivery.outbox import Dispatcher
from actors.errors import ContentionError, EngageError, InvalidEventError, SlotMovedError
from actors.hosting.batch import MAX_CONFLICT_RETRIES, BatchResult, CustomerWork, commit_of
from actors.hosting.handover import Handover
from actors.hosting.linking import link_visitor
from actors.hosting.locks import CustomerLocks
from actors.hosting.reads import offer_inputs_of, snapshot_of
from actors.hosting.reminders import ReminderTurns
from actors.hosting.residency import LiveSet
from actors.metrics import Histogram
from actors.model.actions import Action
from actors.model.dedup import Seen
from actors.model.events import ANON_PREFIX, parse_event
from actors.model.identity import Link, link_source
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json
from actors.storage.slots import slot_of
from actors.storage.store import Commit, OutboxEntry, StateStore
from actors.turn.actor import CustomerActor
from actors.turn.prefetch import NO_SCORES, BatchScores, CustomerEvents, needs_replay, prefetch
from actors.turn.prices import completed

log = logging.getLogger(__name__)


class ShardHost:
    def __init__(
        self,
        shard_id: int,
        config: ActorConfig,
        store: StateStore,
        actor: CustomerActor,
        dispatcher: Dispatcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shard_id = shard_id
        self.config = config
        self.store = store
        self.actor = actor
        self.dispatcher = dispatcher
        self.clock = clock
        self.live = LiveSet(config.idle_passivation_s, config.max_live_customers, clock)
        self.locks = CustomerLocks()
        self.owned_slots: set[int] = set()
        self.stats: Counter[str] = Counter()
        self.turn_ms = Histogram()
        self.batch_ms = Histogram()
        self.mailbox = 0
        self.by_type: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.reminders = ReminderTurns(self)
        # Slots changing hands with another live shard (actors.hosting.handover).
        self.handover = Handover(store, config.handover_grace_s)

    # ---- ingest path ---------------------------------------------------------------

    async def process(
        self,
        raw_events: Sequence[bytes],
        positions: Sequence[int] | None = None,
        read_at: float | None = None,
        origins: Sequence[str | None] | None = None,
    ) -> BatchResult:
        """Run a batch. `positions[i]` is where `raw_events[i]` was read in the events
        topic and `origins[i]` the visitor it was sent on from (None: read for its own
        actor): together they tell a replayed record (actors.model.dedup). `read_at` is
        when ingest read them (wall clock): the start of their actions' event-to-action
        latency, and their arrival for dedup."""
        started = time.perf_counter()
        where: Sequence[int] = positions if positions is not None else ()
        came: Sequence[str | None] = origins if origins is not None else ()
        result = BatchResult()
        # 1. parse and group
        work: dict[str, CustomerWork] = {}
        for index, raw in enumerate(raw_events):
            try:
                event = completed(parse_event(raw), self.actor.catalog.catalog)
            except InvalidEventError as error:
                result.rejected.append((index, error.reason))
                continue
            customer_id = event.actor_id
            item = work.get(customer_id)
            if item is None:
                slot = slot_of(customer_id, self.config.slots)
                item = work[customer_id] = CustomerWork(customer_id, slot, [], where, came, read_at)
            item.events.append((index, event))
        unowned = sorted({w.slot for w in work.values()} - self.owned_slots)
        if unowned:
            self.stats["batches_refused_not_owned"] += 1
            raise SlotMovedError(self.shard_id, unowned)
        self.mailbox += len(raw_events)
        try:
            await self._run_locked(list(work.values()), result, read_at)
        finally:
            self.mailbox -= len(raw_events)
        self.batch_ms.observe((time.perf_counter() - started) * 1000)
        self.stats["batches"] += 1
        return result

    async def _run_locked(
        self, work: list[CustomerWork], result: BatchResult, read_at: float | None
    ) -> None:
        ids = [w.customer_id for w in work]
        try:
            async with self.locks.holding(ids):  # 2. lock
                await self._run(work, result, read_at)
        except BaseException:
            for cid in ids:
                self.drop_live(cid)
            raise

    async def _run(
        self, work: list[CustomerWork], result: BatchResult, read_at: float | None
    ) -> None:
        pending = work
        conflicts = 0
        # Ends: a round either commits a customer, drops one of its events (a poison
        # event, at most once per event), or counts a conflict (bounded below).
        while pending:
            # 3. activate
            await self.activate([(w.slot, w.customer_id) for w in pending])
            # 4. scores for the whole batch, then the turns. The prefetch and the turns
            # start in this one tick: the first row of each customer that is not replayed
            # joins the prefetched rows in the coalescing scorer's one request per model.
            batch = [
                CustomerEvents(
                    w.customer_id,
                    self.live_state(w.customer_id),
                    [(e, w.arrival(i)) for i, e in w.events],
                )
                for w in pending
            ]
            replayed = [needs_replay(self.actor.rules, item) for item in batch]
            self.stats["customers_replayed"] += sum(replayed)
            ahead_task = asyncio.ensure_future(
                prefetch(self.actor, [item for item, r in zip(batch, replayed, strict=True) if r])
            )
            try:
                finished = await asyncio.gather(
                    *(
                        self._turns(w, ahead_task if r else None)
                        for w, r in zip(pending, replayed, strict=True)
                    ),
                    return_exceptions=True,
                )
                ahead = await ahead_task
            finally:
                if not ahead_task.done():
                    ahead_task.cancel()
            self.stats["scores_prefetched"] += ahead.taken
            self.stats["scores_rescored"] += ahead.rescored
            retry: list[CustomerWork] = []
            for w, outcome in zip(pending, finished, strict=True):
                if isinstance(outcome, _PoisonEventError):
                    # Start this customer again from its saved state, without the event
                    # that broke its turn (it is dead-lettered with the reason).
                    self.drop_live(w.customer_id)
                    w.restart()
                    w.without_failed()
                    retry.append(w)
                elif isinstance(outcome, BaseException):
                    raise outcome
            # 5. commit
            conflicted = await self._commit([w for w in pending if w not in retry])
            self.stats["conflicts"] += len(conflicted)
            for w in conflicted:
                self.drop_live(w.customer_id)
                w.restart()
            if conflicted:
                conflicts += 1
                if conflicts >= MAX_CONFLICT_RETRIES:
                    raise ContentionError([w.customer_id for w in conflicted])
            pending = retry + conflicted
        entries: list[OutboxEntry] = []
        for w in work:
            for index, reason in w.failed.items():
                result.rejected.append((index, reason))
            result.redirected += w.redirected
            result.suppressed += w.suppressed
            if w.suppressed:
                # Not kept live: the next batch reads the tombstone again, and finds the
                # customer anew once it has ended.
                self.drop_live(w.customer_id)
            for turn in w.outcomes:
                if turn.duplicate:
                    result.duplicates += 1
                    continue
                result.processed += 1
                result.rejected_actions.extend(turn.rejected)
                self.count_actions(turn.outbound)
            entries += [
                OutboxEntry(w.slot, key, raw, read_at=read_at) for key, raw in w.saved_actions
            ]
        result.actions = len(entries)
        self.stats["events"] += result.processed
        self.stats["duplicates"] += result.duplicates
        self.stats["actions"] += result.actions
        # 6. dispatch (backpressure: waits while the sink queue is full)
        await self.dispatcher.submit(entries)

    async def _turns(
        self, w: CustomerWork, prefetching: asyncio.Future[BatchScores] | None
    ) -> None:
        state = w.state = self.live_state(w.customer_id)
        if state.forgotten_at is not None:
            # Forgotten: nothing of it is applied or kept while its tombstone lasts.
            w.suppressed = len(w.events)
            self.stats["suppressed_forgotten"] += len(w.events)
            return
        if state.merged_into is not None:
            # A visitor merged into a customer: its events are that customer's now.
            w.redirected = [(index, state.merged_into) for index, _ in w.events]
            self.stats["redirected"] += len(w.events)
            return
        ahead = NO_SCORES if prefetching is None else await prefetching
        for index, event in w.events:
            arrival = w.arrival(index)
            source = link_source(event)
            if (
                source is not None
                and source != w.customer_id
                and source not in (state.linked or ())
                and state.seen(event, arrival) is Seen.NEW
            ):
                state = await self._link(w, state, source)
            started = time.perf_counter()
            try:
                outcome = await self.actor.on_event(w.customer_id, state, event, arrival, ahead)
            except EngageError:
                raise
            except Exception as error:  # a poison event must not take the customer down
                log.exception(
                    "turn failed; event dead-lettered",
                    extra={"customer_id": w.customer_id, "event_id": event.event_id},
                )
                w.failed[index] = f"turn failed: {type(error).__name__}: {error}"
                self.stats["turn_errors"] += 1
                # Restart this customer's turns without the poison event.
                raise _PoisonEventError from error
            if outcome.refused is not None:
                w.failed[index] = outcome.refused
                self.stats["refused"] += 1
                continue
            w.outcomes.append(outcome)
            self.turn_ms.observe((time.perf_counter() - started) * 1000)

    async def _link(self, w: CustomerWork, state: CustomerState, source: str) -> CustomerState:
        decision, state = await link_visitor(self.store, self.config.slots, w, state, source)
        self.stats[f"links_{decision.value}"] += 1
        if decision is Link.MERGE:
            self.live.put(w.customer_id, state)
        return state

    async def _commit(self, work: list[CustomerWork]) -> list[CustomerWork]:
        commits: list[Commit] = []
        owners: list[CustomerWork] = []
        for w in work:
            commit = commit_of(
                w,
                self.ttl(w.customer_id),
                self.config.trace_turns,
                self.config.trace_retention_s,
            )
            if commit is None:
                continue
            w.saved_actions = commit.actions
            commits.append(commit)
            owners.append(w)
        versions = await self.store.commit_many(commits)
        conflicted = []
        for w, commit, version in zip(owners, commits, versions, strict=True):
            if version is None:
                conflicted.append(w)
            else:
                assert w.state is not None
                w.state.version = version
                self.reminders.committed(commit)
        return conflicted

    def ttl(self, customer_id: str) -> int:
        if customer_id.startswith(ANON_PREFIX):
            return self.config.anonymous_ttl_s
        return self.config.customer_retention_s or 0

    # ---- activation and passivation ----------------------------------------------------

    def live_state(self, customer_id: str) -> CustomerState:
        state = self.live.peek(customer_id)
        assert state is not None, "activated before use"
        return state

    async def activate(self, items: list[tuple[int, str]]) -> None:
        missing = [(slot, cid) for slot, cid in items if self.live.get(cid) is None]
        if not missing:
            return
        loaded = await self.store.load_many(missing)
        for (_, cid), stored in zip(missing, loaded, strict=True):
            if self.live.peek(cid) is not None:
                # Activated by someone else while this load was in flight: a read does
                # not take the customer's lock, so its load can overlap a batch that
                # activated, applied and saved. The live copy is at least as new as
                # what was loaded here; replacing it would make every later read answer
                # from before the batch (writes are safe either way: the commit's
                # compare-and-set refuses a stale version).
                continue
            state = state_from_json(stored.data) if stored.data else CustomerState()
            state.version = stored.version
            state.merged_into = stored.linked_to
            state.forgotten_at = stored.forgotten_at
            self.live.put(cid, state)
        self.stats["activations"] += len(missing)

    def count_actions(self, actions: Sequence[Action]) -> None:
        for action in actions:
            self.by_type[action.type] += 1
            if action.type != "decision":  # a rule's offer and its record are one action
                self.by_rule[action.rule_id] += 1

    async def activate_one(self, customer_id: str) -> CustomerState:
        await self.activate([(slot_of(customer_id, self.config.slots), customer_id)])
        return self.live_state(customer_id)

    def drop_live(self, customer_id: str) -> None:
        if self.live.discard(customer_id):
            self.stats["evictions"] += 1

    def passivate(self) -> int:
        """Drop idle customers and those over the live limit. Their state is already saved."""
        dropped = self.live.passivate(busy=self.locks)
        self.stats["passivations"] += dropped
        return dropped

    # ---- reminders -----------------------------------------------------------------------

    async def fire_due_reminders(self, limit: int = 1000) -> int:
        """Run the turns of reminders that are due on this shard's slots."""
        return await self.reminders.fire_due(limit)

    # ---- outbox recovery -------------------------------------------------------------

    async def recover_outbox(self, limit: int = 10_000) -> int:
        """Re-queue actions saved but not delivered (a previous host died, or a retry).

        The actions of a slot taken over lately from a live shard wait until that shard
        let it go (actors.hosting.handover)."""
        if not self.owned_slots:
            return 0
        slots = sorted(self.owned_slots)

        async def read() -> list[OutboxEntry]:
            entries = await self.store.outbox(slots, limit)
            return await self.handover.deliverable(entries, self.clock())

        offered = await self.dispatcher.recover(read)
        self.stats["outbox_recovered"] += offered
        return offered

    # ---- slots -----------------------------------------------------------------------

    def set_owned_slots(self, slots: set[int], epoch: int = 0) -> None:
        """Adopt a new slot table (of `epoch`): forget live customers of slots no longer
        ours, and drop their queued and waiting actions (the new owner delivers them from
        the outbox; keeping them here too would race it), then say so
        (`release_lost_slots`)."""
        lost = self.owned_slots - slots
        gained = slots - self.owned_slots
        if gained and self.owned_slots:  # taken over from another shard, not a start
            self.handover.gained(gained, self.clock(), epoch)
        self.dispatcher.adopt_slots(gained)
        self.owned_slots = set(slots)
        if lost:
            self.dispatcher.forget_slots(lost)
            self.handover.lost(lost, epoch)
            for cid in list(self.live):
                if slot_of(cid, self.config.slots) in lost and cid not in self.locks:
                    self.live.discard(cid)
                    self.stats["handed_off"] += 1

    async def release_lost_slots(self) -> None:
        await self.handover.release()

    # ---- reads (never wait for another customer's turn) --------------------------------

    async def snapshot(self, customer_id: str, at: float | None = None) -> dict[str, Any]:
        state = await self.activate_one(customer_id)
        when = at if at is not None else (state.last_event_at or self.clock())
        return {
            **snapshot_of(customer_id, state, when, self._suppression_s()),
            "shard": self.shard_id,
        }

    async def offer_inputs(self, customer_id: str) -> dict[str, Any]:
        """Just what next-best-offer needs: cheaper to build and to ship than a snapshot."""
        state = await self.activate_one(customer_id)
        return offer_inputs_of(customer_id, state, self.clock(), self.actor.rules)

    def _suppression_s(self) -> float:
        return self.actor.rules.policy.suppress_marketing_after_fraud

    async def forget(self, customer_id: str, reminder_kinds: Sequence[str]) -> list[str]:
        """Erase the customer and every visitor merged into it (the visitors first: their
        list is in the customer's state, so a forget that fails half-way can be
        repeated), each leaving a tombstone for `forget_tombstone_s`: no shard applies
        their later events or writes them back, no visitor links to them again. Returns
        every id forgotten: their own shards may hold live copies to `evict`."""
        keep = self.config.forget_tombstone_s
        async with self.locks.holding([customer_id]):
            state = await self.activate_one(customer_id)
            for visitor in state.linked or ():
                self.dispatcher.forget_customer(visitor)
                await self.store.forget(
                    slot_of(visitor, self.config.slots), visitor, reminder_kinds, keep
                )
            slot = slot_of(customer_id, self.config.slots)
            # Queued and deferred actions first: none may reach an address being erased.
            self.dispatcher.forget_customer(customer_id)
            await self.store.forget(slot, customer_id, reminder_kinds, keep)
            self.drop_live(customer_id)
            self.stats["forgotten"] += 1
            return [customer_id, *(state.linked or ())]

    def evict(self, customer_id: str) -> bool:
        """Drop a live copy another shard made stale (it merged or forgot this actor): the
        next message or read loads it again. A customer in a turn is left alone (its
        commit's compare-and-set refuses a stale write)."""
        if customer_id in self.locks:
            return False
        self.drop_live(customer_id)
        return True

    def introspect(self) -> dict[str, Any]:
        return {
            "shard": self.shard_id,
            "live_customers": len(self.live),
            "owned_slots": len(self.owned_slots),
            "mailbox_depth": self.mailbox,
            "sink_queue_depth": self.dispatcher.depth,
            "turn_ms_p50": self.turn_ms.quantile(0.5),
            "turn_ms_p99": self.turn_ms.quantile(0.99),
            "turn_ms": self.turn_ms.to_dict(),
            "batch_ms_p99": self.batch_ms.quantile(0.99),
            "batch_ms": self.batch_ms.to_dict(),
            "actions_by_type": dict(self.by_type),
            "actions_by_rule": dict(self.by_rule),
            "dispatch": dict(self.dispatcher.stats),
            "action_latency_ms": self.dispatcher.latency_ms.to_dict(),
            **{k: v for k, v in self.stats.items()},
        }


class _PoisonEventError(Exception):
    """A turn raised: the customer's events run again without the one that broke it."""
