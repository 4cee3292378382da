"""The outbox dispatcher: delivers saved actions to sinks, each at most once.

Checkpoint order for an action (the shard saved it in the slot's outbox, together with the
customer's state, before acking the batch that produced it):

1. skip it if its idempotency key is already marked sent (a crash after step 5 and before
   step 6 left it in the outbox) or was delivered by this dispatcher but not yet marked;
   an action whose delivery may have reached the sink (begun by a process that died, or
   a send that ended without an answer) is looked up at the sink first (its lane's
   look-up task), and sent only if the sink does not have it;
2. ask the guardrails: deliver, defer (quiet hours), suppress, hold out, or reject (the
   action's own data cannot be judged: dead-lettered);
3. hand it to its sink's lane, which notes in the outbox that delivery is starting;
4. deliver through the sink; a failure is retried, for this action alone, with
   exponential backoff and jitter; one that cannot succeed, or that ran out of attempts,
   goes to the dead-letter topic;
5. mark its idempotency key sent;
6. remove it from the outbox.

Each sink has a lane of its own (actors.delivery.lane). A sink or guardrail that raises
fails the actions it was handling (each counts an attempt), never the rest. An action
delivered in step 4 is remembered in memory before step 5, so when Redis is out of reach
for the marks and the action comes round again, it is marked instead of sent again.

A crash between 4 and 5 is the only window in which an action can be delivered twice;
step 1 asks the sink (the actions topic can tell) and the record carries its idempotency
key so a receiver can drop the copy.

The intake queue is bounded: when it is full, `submit` waits, the shard's ack waits, and
ingest slows down. A lane holds at most `queue_size` actions in memory; past it, and past
`max_deferred` actions waiting for the end of quiet hours, actions stay in the outbox
(saved, never dropped) and outbox recovery offers them again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence

from actors.delivery.attempts import Attempts
from actors.delivery.idempotency import IdempotencyStore
from actors.delivery.intake import sort_batch
from actors.delivery.lane import Batch, Lane, work_backlog
from actors.delivery.letters import DeadLetters
from actors.delivery.notes import DeliveryNotes
from actors.delivery.policy import ActionPolicy, AllowAll
from actors.delivery.sinks.base import Delivery, Sink
from actors.delivery.waiting import WaitQueue
from actors.errors import OutageError
from actors.metrics import Histogram
from actors.model.actions import Action
from actors.storage.store import OutboxEntry, StateStore, owner_of

log = logging.getLogger(__name__)

MAX_OUTAGE_PAUSE_S = 5.0


class Dispatcher:
    def __init__(
        self,
        sinks: Mapping[str, Sink],
        sent: IdempotencyStore,
        store: StateStore,
        dead_letters: DeadLetters,
        policy: ActionPolicy | None = None,
        queue_size: int = 10_000,
        max_attempts: int = 5,
        base_backoff_s: float = 0.2,
        max_batch: int = 500,
        max_deferred: int = 100_000,
        clock: Callable[[], float] = time.time,
        trace_keep: int = 0,
        trace_ttl_s: int = 0,
    ) -> None:
        self.sinks = dict(sinks)
        self.sent = sent
        self.store = store
        self.dead_letters = dead_letters
        self.policy = policy or AllowAll()
        self.queue: asyncio.Queue[OutboxEntry] = asyncio.Queue(maxsize=queue_size)
        self.queue_size = queue_size
        self.base_backoff_s = base_backoff_s
        self.max_batch = max_batch
        self.max_deferred = max_deferred
        self.clock = clock
        self.stats: Counter[str] = Counter()
        # What became of each action, for its customer's decision trace.
        self.notes = DeliveryNotes(store, trace_keep, trace_ttl_s, clock, self.stats)
        # Keys queued, in a lane, or waiting for a retry: outbox recovery skips them.
        self.pending: set[str] = set()
        # Milliseconds from ingest reading an event to its action accepted by the sink.
        self.latency_ms = Histogram()
        # Delivered, not yet marked sent (the marks failed): never delivered again.
        self.unmarked: dict[str, Action] = {}
        self.tries = Attempts(
            dead_letters, max_attempts, base_backoff_s, self._wait, self.notes, self.stats
        )
        # Keys finished while an outbox recovery reads (see `recover`).
        self._watches: list[set[str]] = []
        # Retries and deferrals, woken by one timer task.
        self._later = WaitQueue(clock)
        self._lanes: dict[str, Lane] = {}
        # Slots handed to another shard (`forget_slots`): nothing of theirs is delivered
        # from here any more, not even what was already taken from a lane.
        self._lost_slots: set[int] = set()
        self._outages = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- intake --------------------------------------------------------------------

    async def submit(
        self, entries: Sequence[OutboxEntry], finished: set[str] | None = None
    ) -> None:
        """Queue entries for delivery; waits while the queue is full (backpressure).
        Entries in `finished` are stale (see `recover`) and not queued."""
        for entry in entries:
            if entry.key in self.pending or (finished is not None and entry.key in finished):
                continue
            self.pending.add(entry.key)
            await self.queue.put(entry)

    async def recover(self, read: Callable[[], Awaitable[Sequence[OutboxEntry]]]) -> int:
        """Offer again what `read()` finds in the outbox, but for what is in hand and what
        finished while the read was under way: the read saw it before it was cleared, and
        offering it again would dead-letter or hold it twice. How many were offered."""
        finished: set[str] = set()
        self._watches.append(finished)
        try:
            entries = [e for e in await read() if e.key not in self.pending]
            fresh = [e for e in entries if e.key not in finished]
            await self.submit(fresh, finished)
        finally:
            self._watches.remove(finished)
        return len(fresh)

    @property
    def depth(self) -> int:
        """Actions queued: at the intake and in the sinks' lanes."""
        return self.queue.qsize() + sum(lane.backlog for lane in self._lanes.values())

    @property
    def waiting(self) -> int:
        """Entries waiting for a retry or the end of quiet hours."""
        return len(self._later)

    def lanes(self) -> dict[str, dict[str, object]]:
        """Each sink's backlog, for operators (`/v1/shards`)."""
        return {
            name: {
                "queued": len(lane.deliveries),
                "looking_up": len(lane.lookups),
                "lookup_error": lane.last_lookup_error,
            }
            for name, lane in self._lanes.items()
        }

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._run(), name="outbox-dispatcher"),
            asyncio.create_task(self._later.run(self.queue.put), name="outbox-timer"),
        ]
        for name, sink in self.sinks.items():
            lane = self._lanes[name] = Lane(name, sink)
            deliver = work_backlog(
                lane.deliveries,
                lane.ready,
                lane.batch_size(self.max_batch),
                functools.partial(self._deliver, lane),
                self._crashed_in_lane,
            )
            # Step 1's look-ups at the sink, apart from its deliveries.
            look_up = work_backlog(
                lane.lookups,
                lane.lookup_ready,
                self.max_batch,
                functools.partial(self._look_up, lane),
                self._crashed_in_lane,
            )
            self._tasks += [
                asyncio.create_task(deliver, name=f"outbox-{name}"),
                asyncio.create_task(look_up, name=f"outbox-{name}-lookup"),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._lanes = {}

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued or retrying (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a set
            await asyncio.sleep(0.01)
        return not self.pending

    def forget_slots(self, slots: set[int]) -> int:
        """Drop queued and waiting entries of slots this shard no longer owns (a slot
        move): the new owner delivers them from the outbox. Returns how many."""
        self._lost_slots |= slots
        dropped = self._drop(lambda entry: entry.slot in slots)
        self.stats["handed_off"] += dropped
        return dropped

    def adopt_slots(self, slots: set[int]) -> None:
        """Slots this shard owns (again): their actions are delivered from here."""
        self._lost_slots -= slots

    def forget_customer(self, customer_id: str) -> int:
        """Drop queued and waiting entries of a customer being forgotten."""
        return self._drop(lambda entry: owner_of(entry.action) == customer_id)

    def _drop(self, doomed: Callable[[OutboxEntry], bool]) -> int:
        queued = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        for entry in queued:
            if not doomed(entry):
                self.queue.put_nowait(entry)
        dropped = [e for e in queued if doomed(e)] + self._later.drop(doomed)
        for lane in self._lanes.values():
            dropped += lane.drop(doomed)
        for entry in dropped:
            self._release(entry)
        return len(dropped)

    # ---- the intake loop: steps 1 and 2 --------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.dispatch(batch)
                self._outages = 0
            except OutageError as error:
                # Redis (or a dead-letter topic) is out of reach: nothing of this batch was
                # handed on, everything stays in the outbox, and the batch is tried again
                # after a pause that grows while the outage lasts.
                log.warning("dispatch failed, retrying: %s", error)
                self.stats["dispatch_errors"] += 1
                self._outages += 1
                # At most a few seconds apart: actions delivered but not yet marked wait
                # in this round, and the sooner they are marked after the outage, the
                # smaller the window in which a crash would send them again.
                delay = min(self.base_backoff_s * 2**self._outages, MAX_OUTAGE_PAUSE_S)
                for entry in batch:
                    self._wait(entry, delay * random.uniform(0.5, 1.5))
            except Exception as error:
                # A fault of the code, not of an outage: each entry counts an attempt, and
                # one that keeps failing goes to the dead letters instead of looping.
                log.exception("dispatch crashed; entries stay in the outbox")
                self.stats["dispatch_errors"] += 1
                await self._crashed(batch, f"dispatch failed: {error!r}")

    async def _crashed(self, batch: Sequence[OutboxEntry], reason: str) -> None:
        finished = []
        try:
            for entry in batch:
                if entry.key in self.pending and await self.tries.failed(entry, reason, ""):
                    finished.append(entry)
            await self._settle(finished, [])  # dead-lettered: marked, then cleared
        except Exception:  # an outage meanwhile: the outbox still holds them, retry later
            log.exception("cannot settle a crashed dispatch; retrying later")
            for entry in batch:
                self._wait(entry, self.base_backoff_s * 5)

    async def dispatch(self, batch: Sequence[OutboxEntry]) -> None:
        """Steps 1 and 2 for a batch, then each action to its lane. Every call to Redis or
        a dead-letter topic comes before anything is handed on, so an outage leaves the
        whole batch to be tried again and nothing in two places."""
        ours = self._handed_off(batch)
        # 1. finished before, to dead-letter unread, to look up, to judge
        sent = await self.sent.already_sent([e.key for e in ours])
        step = sort_batch(ours, sent, self.tries.buried, self.unmarked, self.sinks)
        self.stats["duplicates_skipped"] += step.duplicates
        done, remembered, lookups, judge = step.done, step.remembered, step.lookups, step.judge
        for entry, reason in step.letters:
            await self.dead_letters.action_failed(entry.action, reason, "")
            self.tries.buried.add(entry.key)
            self.stats["dead_lettered"] += 1
            done.append(entry)
        # 2. guardrails
        decisions = await self.policy.decide([a for _, a in judge]) if judge else []
        deliveries: Batch = []
        for (entry, action), decision in zip(judge, decisions, strict=True):
            if decision.verdict == "deliver":
                if action.sink in self.sinks:
                    deliveries.append((entry, action))
                else:
                    reason = f"sink {action.sink!r} is not configured"
                    await self.tries.give_up(entry, reason, action.sink, action)
                    done.append(entry)
            elif decision.verdict == "defer":
                self.stats["deferred"] += 1
                self.notes.note(entry, action, f"deferred: {decision.reason}")
                if len(self._later) >= self.max_deferred:
                    # Left in the outbox; recovery offers it again once there is room.
                    self.stats["deferred_over_limit"] += 1
                    self._release(entry)
                else:
                    self._wait(entry, max(0.0, decision.until - self.clock()))
            elif decision.verdict == "reject":
                await self.tries.give_up(entry, decision.reason, "", action)
                done.append(entry)
            else:
                self.stats[decision.verdict] += 1
                self.notes.note(entry, action, f"held ({decision.verdict}): {decision.reason}")
                done.append(entry)
        # Marks of what was delivered earlier or dead-lettered now, and the outbox cleared
        # of what is done.
        await self._settle(done, remembered)
        # Handed on last: nothing can fail after this.
        for entry, action in lookups:
            self._hand(self._lanes[action.sink].lookups, entry, action)
        for entry, action in deliveries:
            self._hand(self._lanes[action.sink].deliveries, entry, action)
        for lane in self._lanes.values():
            if lane.deliveries:
                lane.ready.set()
            if lane.lookups:
                lane.lookup_ready.set()

    def _hand(
        self, backlog: deque[tuple[OutboxEntry, Action]], entry: OutboxEntry, action: Action
    ) -> None:
        lane = self._lanes[action.sink]
        if lane.backlog >= self.queue_size:
            # A sink slower than what comes in: the action stays in the outbox, and
            # recovery offers it again; memory stays bounded, other sinks unaffected.
            self.stats[f"lane_over_limit_{lane.name}"] += 1
            self._release(entry)
            return
        backlog.append((entry, action))

    # ---- a sink's lane: steps 3 to 6 ------------------------------------------------------

    def _handed_off(self, batch: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """`batch` without the entries of slots handed to another shard meanwhile: theirs
        to deliver or dead-letter, from the outbox; released here."""
        if not self._lost_slots:
            return list(batch)
        kept = []
        for entry in batch:
            if entry.slot in self._lost_slots:
                self.stats["handed_off"] += 1
                self._release(entry)
            else:
                kept.append(entry)
        return kept

    async def _deliver(self, lane: Lane, batch: Batch) -> None:
        # A slot handed over meanwhile is its new owner's to deliver, from the outbox.
        ours = set(map(id, self._handed_off([e for e, _ in batch])))
        batch = [(e, a) for e, a in batch if id(e) in ours]
        if not batch:
            return
        # 3. note that delivery is starting: a crash from here on leaves the action to be
        # looked up at the sink before it is sent again
        try:
            await self.store.mark_attempted([(e.slot, e.key) for e, _ in batch], self.clock())
        except OutageError:
            self.stats["waiting"] += len(batch)
            for entry, _ in batch:
                self._wait(entry, self.base_backoff_s * 4 * random.uniform(0.5, 1.5))
            return
        # 4. deliver; each action's result is its own
        try:
            results = await lane.sink.deliver([a for _, a in batch])
        except Exception as error:  # a sink that raises fails these actions alone
            results = [Delivery.failed(f"{lane.name}: {error!r}")] * len(batch)
        delivered: Batch = []
        done: list[OutboxEntry] = []
        for (entry, action), result in zip(batch, results, strict=True):
            if not result.ok and entry.slot in self._lost_slots:
                # Handed over while it was being sent: retrying or dead-lettering it is
                # the new owner's, from the outbox (both here would do it twice).
                self.stats["handed_off"] += 1
                self._release(entry)
            elif result.ok:
                delivered.append((entry, action))
                self.unmarked[action.idempotency_key] = action
                self.stats[f"delivered_{lane.name}"] += 1
                self.notes.note(entry, action, f"delivered ({lane.name})")
                if entry.read_at is not None:
                    self.latency_ms.observe((self.clock() - entry.read_at) * 1000)
            elif result.unsure:
                self.stats["unsure"] += 1
                looked_up = dataclasses.replace(entry, attempted_at=self.clock())
                self._wait(looked_up, self.base_backoff_s * random.uniform(0.5, 1.5))
            elif not result.retryable:
                if await self.tries.settle_give_up(entry, result.reason, lane.name, action):
                    done.append(entry)
            elif not result.counts:  # an outage: wait, attempts untouched
                self.stats["waiting"] += 1
                self._wait(entry, self.base_backoff_s * 4 * random.uniform(0.5, 1.5))
            elif await self.tries.settle_failed(entry, result.reason, lane.name):
                done.append(entry)
        await self._finish(delivered, done)

    async def _finish(
        self, delivered: Sequence[tuple[OutboxEntry, Action]], done: list[OutboxEntry]
    ) -> None:
        """5. mark sent and count against caps, then 6. clear the outbox. Clearing may run
        with the marks: a crash between them leaves an entry in the outbox that step 1
        finds marked (or at the sink) and does not send again. When Redis is out of reach,
        the delivered actions stay remembered and come round to be marked."""
        finished = done + [e for e, _ in delivered]
        try:
            await self._settle(finished, [a for _, a in delivered])
        except OutageError as error:
            log.warning("cannot mark delivered actions yet: %s", error)
            self.stats["dispatch_errors"] += 1
            # Soon (a paused Redis spaces tries by its timeouts): unmarked, a crash repeats them.
            for entry in finished:
                self._wait(entry, self.base_backoff_s * random.uniform(0.5, 1.0))

    async def _settle(self, finished: list[OutboxEntry], delivered: list[Action]) -> None:
        """Mark the delivered actions sent (and count them against caps) and the dead
        letters among `finished` too (nothing acts on them twice), clear the outbox of
        `finished`, and write the notes of the round; then release them."""
        marks = []
        if buried := [e.key for e in finished if e.key in self.tries.buried]:
            marks.append(self.sent.mark_sent(buried))
        if delivered:
            marks += [
                self.sent.mark_sent([a.idempotency_key for a in delivered]),
                self.policy.delivered(delivered),
            ]
        await asyncio.gather(
            *marks,
            self.store.clear_outbox([(e.slot, e.key) for e in finished]),
            self.notes.write(),
        )
        for action in delivered:
            self.unmarked.pop(action.idempotency_key, None)
        for entry in finished:
            self._done(entry)

    def _crashed_in_lane(self, batch: Batch) -> None:
        self.stats["dispatch_errors"] += 1
        for entry, _ in batch:
            self._wait(entry, self.base_backoff_s * 5)

    async def _look_up(self, lane: Lane, batch: Batch) -> None:
        keys = {a.idempotency_key for _, a in batch}
        since = min(e.attempted_at or self.clock() for e, _ in batch)
        try:
            found = await lane.sink.delivered(keys, since)
        except Exception as error:
            # The sink cannot tell now (its broker is down, the read timed out): asked
            # again later, each time a little later, and said loudly; never sent blind.
            lane.lookup_failures += 1
            lane.last_lookup_error = repr(error)
            self.stats["sink_check_errors"] += 1
            log.warning("cannot ask sink %s what it has: %r", lane.name, error)
            delay = min(self.base_backoff_s * 5 * 2**lane.lookup_failures, 60.0)
            for entry, _ in batch:
                self._wait(entry, delay * random.uniform(0.5, 1.5))
            return
        lane.lookup_failures = 0
        lane.last_lookup_error = None
        there = [(e, a) for e, a in batch if a.idempotency_key in found]
        absent = [(e, a) for e, a in batch if a.idempotency_key not in found]
        if there:
            self.stats["found_at_sink"] += len(there)
            for _, action in there:
                self.unmarked[action.idempotency_key] = action
        await self._finish(there, [])
        # Not at the sink: judged and sent as any action (the outbox keeps its first
        # attempt time, so a later look-up still reads back far enough).
        for entry, _ in absent:
            self._wait(dataclasses.replace(entry, attempted_at=None), 0.0)

    # ---- retries and waiting -------------------------------------------------------------

    def _wait(self, entry: OutboxEntry, delay_s: float) -> None:
        self._later.add(entry, delay_s)

    def _done(self, entry: OutboxEntry) -> None:
        """Finished and cleared from the outbox: released, and told to recoveries under way."""
        for finished in self._watches:
            finished.add(entry.key)
        self._release(entry)

    def _release(self, entry: OutboxEntry) -> None:
        self._later.forget(entry.key)
        self.pending.discard(entry.key)
        self.tries.release(entry.key)
