"""The outbox dispatcher: delivers saved actions to sinks, each at most once.

Checkpoint order for an action (the shard saved it in the slot's outbox, together with the
customer's state, before acking the batch that produced it):

1. skip it if its idempotency key is already marked sent (a crash after step 4 and before
   step 5 left it in the outbox), was delivered by this dispatcher but not yet marked, or
   is found at the sink after an interrupted delivery;
2. ask the guardrails: deliver, defer (quiet hours), suppress, hold out, or reject (the
   action's own data cannot be judged: dead-lettered);
3. deliver through its sink; a failure is retried, for this action alone, with
   exponential backoff and jitter; one that cannot succeed, or that ran out of attempts,
   goes to the dead-letter topic;
4. mark its idempotency key sent;
5. remove it from the outbox.

Every action is judged on its own: a sink or guardrail that raises fails the actions it
was handling (each counts an attempt), never the rest of the batch. An action delivered
in step 3 is remembered in memory before step 4, so when Redis is out of reach for the
marks and the batch is tried again, the retry marks it instead of sending it again.

A crash between 3 and 4 is the only window in which an action can be delivered twice;
step 1 asks the sink (the actions topic can tell) and the record carries its idempotency
key so a receiver can drop the copy.

The queue in front of the dispatcher is bounded: when sinks are slow, `submit` waits, the
shard's ack waits, and ingest slows down. Actions are never dropped to keep up. Deferred
actions (quiet hours) wait in one timer heap, not one task each, bounded by
`max_deferred`; past it they stay in the outbox and recovery offers them again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError

from actors.delivery.sinks.base import Delivery, Sink
from actors.errors import OutageError, StoreUnavailableError
from actors.metrics import Histogram
from actors.model.actions import Action, action_from_json, idempotency_key
from actors.storage.keys import Keys
from actors.storage.store import OutboxEntry, StateStore, owner_of
from actors.turn.actor import RejectedAction

log = logging.getLogger(__name__)

SENT_TTL_S = 90 * 86_400


class IdempotencyStore(Protocol):
    async def already_sent(self, keys: Sequence[str]) -> set[str]: ...

    async def mark_sent(self, keys: Sequence[str]) -> None: ...


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self.sent: set[str] = set()

    async def already_sent(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if k in self.sent}

    async def mark_sent(self, keys: Sequence[str]) -> None:
        self.sent.update(keys)


class RedisIdempotencyStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_s: int = SENT_TTL_S) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s

    async def already_sent(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        try:
            found = await self._redis.mget([self._keys.sent(k) for k in keys])
        except RedisError as error:
            raise StoreUnavailableError("idempotency", str(error)) from error
        return {k for k, v in zip(keys, found, strict=True) if v is not None}

    async def mark_sent(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._keys.sent(key), b"1", ex=self._ttl_s)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("idempotency", str(error)) from error


class DeadLetters(Protocol):
    """Where an action that cannot be delivered goes, with the reason. Never raises."""

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None: ...


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[bytes, str, str]] = []

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None:
        self.letters.append((raw, reason, sink))


@dataclass(frozen=True, slots=True)
class Decision:
    # reject: the action cannot be judged (bad data of its own); it is dead-lettered.
    verdict: Literal["deliver", "defer", "suppress", "holdout", "reject"]
    reason: str = ""
    until: float = 0.0


DELIVER = Decision("deliver")


class ActionPolicy(Protocol):
    """Guardrails consulted before delivery (see actors.delivery.guardrails)."""

    async def decide(self, actions: Sequence[Action]) -> list[Decision]: ...

    async def delivered(self, actions: Sequence[Action]) -> None:
        """Called after delivery, to count the actions against frequency caps."""
        ...


class AllowAll:
    async def decide(self, actions: Sequence[Action]) -> list[Decision]:
        return [DELIVER for _ in actions]

    async def delivered(self, actions: Sequence[Action]) -> None:
        return None


REJECTED_PREFIX = "dlq."


def rejection_entry(rejected: RejectedAction) -> tuple[str, bytes]:
    """An action a rule could not build, saved in the outbox like any action so that its
    dead letter survives a crash; the dispatcher sends it straight to the dead letters."""
    key = idempotency_key(rejected.customer_id, rejected.rule_id, rejected.trigger_event_id)
    body = {
        "rejected_action": {
            "rule_id": rejected.rule_id,
            "customer_id": rejected.customer_id,
            "trigger_event_id": rejected.trigger_event_id,
        },
        "reason": rejected.reason,
    }
    return REJECTED_PREFIX + key, orjson.dumps(body)


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
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.max_batch = max_batch
        self.max_deferred = max_deferred
        self.clock = clock
        # What became of each action goes into its customer's decision trace (actors.hosting.host
        # writes the turns'): held by a guardrail, deferred, delivered, dead-lettered.
        self.trace_keep = trace_keep
        self.trace_ttl_s = trace_ttl_s
        self._notes: list[tuple[int, str, bytes]] = []
        # Keys queued, in delivery, or waiting for a retry: outbox recovery skips them.
        self.pending: set[str] = set()
        self.attempts: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        # Milliseconds from ingest reading an event to its action accepted by the sink.
        self.latency_ms = Histogram()
        # Delivered, not yet marked sent (the marks failed): never delivered again.
        self.unmarked: dict[str, Action] = {}
        # (due, sequence, entry): retries and deferrals, woken by one timer task.
        self._later: list[tuple[float, int, OutboxEntry]] = []
        self._waiting: set[str] = set()
        self._sequence = itertools.count()
        # Made in `start`: an asyncio.Event belongs to the loop that first waits on it.
        self._wake: asyncio.Event | None = None
        self._outages = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- intake --------------------------------------------------------------------

    async def submit(self, entries: Sequence[OutboxEntry]) -> None:
        """Queue entries for delivery; waits while the queue is full (backpressure)."""
        for entry in entries:
            if entry.key in self.pending:
                continue
            self.pending.add(entry.key)
            await self.queue.put(entry)

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    @property
    def waiting(self) -> int:
        """Entries waiting for a retry or the end of quiet hours."""
        return len(self._later)

    def start(self) -> None:
        if not self._tasks:
            self._wake = asyncio.Event()
            self._tasks = [
                asyncio.create_task(self._run(), name="outbox-dispatcher"),
                asyncio.create_task(self._timer(), name="outbox-timer"),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued or retrying (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a set
            await asyncio.sleep(0.01)
        return not self.pending

    def forget_slots(self, slots: set[int]) -> int:
        """Drop queued and waiting entries of slots this shard no longer owns (a slot
        move): the new owner delivers them from the outbox. Returns how many."""
        dropped = self._drop(lambda entry: entry.slot in slots)
        self.stats["handed_off"] += dropped
        return dropped

    def forget_customer(self, customer_id: str) -> int:
        """Drop queued and waiting entries of a customer being forgotten."""
        return self._drop(lambda entry: owner_of(entry.action) == customer_id)

    def _drop(self, doomed: Callable[[OutboxEntry], bool]) -> int:
        dropped = 0
        queued: list[OutboxEntry] = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        for entry in queued:
            if doomed(entry):
                dropped += 1
                self._release(entry)
            else:
                self.queue.put_nowait(entry)
        waiting = [item for item in self._later if not doomed(item[2])]
        for item in self._later:
            if doomed(item[2]):
                dropped += 1
                self._release(item[2])
        self._later = waiting
        heapq.heapify(self._later)
        return dropped

    # ---- the loop ----------------------------------------------------------------------

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
                # delivered without being remembered, everything stays in the outbox, and
                # the batch is tried again after a pause that grows while the outage lasts.
                log.warning("dispatch failed, retrying: %s", error)
                self.stats["dispatch_errors"] += 1
                self._outages += 1
                delay = min(self.base_backoff_s * 2**self._outages, 30.0)
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
                if entry.key in self.pending and await self._failed_attempt(entry, reason, ""):
                    finished.append(entry)
            await self.store.clear_outbox([(e.slot, e.key) for e in finished])
        except Exception:  # an outage meanwhile: the outbox still holds them, retry later
            log.exception("cannot settle a crashed dispatch; retrying later")
            for entry in batch:
                self._wait(entry, self.base_backoff_s * 5)
            return
        for entry in finished:
            self._release(entry)

    async def _timer(self) -> None:
        """Moves retries and deferrals whose time has come back into the queue."""
        while True:
            now = self.clock()
            while self._later and self._later[0][0] <= now:
                _, _, entry = heapq.heappop(self._later)
                self._waiting.discard(entry.key)
                await self.queue.put(entry)
            delay = self._later[0][0] - now if self._later else 3600.0
            assert self._wake is not None, "started"
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.001, min(delay, 1.0)))

    def _wait(self, entry: OutboxEntry, delay_s: float) -> None:
        if entry.key in self._waiting:
            return  # already waiting (a deferral, then an outage in the same round)
        self._waiting.add(entry.key)
        heapq.heappush(self._later, (self.clock() + delay_s, next(self._sequence), entry))
        if self._wake is not None:
            self._wake.set()

    def _release(self, entry: OutboxEntry) -> None:
        self._waiting.discard(entry.key)
        self.pending.discard(entry.key)
        self.attempts.pop(entry.key, None)

    def _note(self, entry: OutboxEntry, action: Action | None, what: str) -> None:
        """Note what became of an action for its customer's trace. `action` is the parsed
        entry where the caller has it; only a dead letter's entry is read again here."""
        if self.trace_keep <= 0:
            return
        if action is None:
            try:
                action = action_from_json(entry.action)
            except ValidationError:
                return  # not an action: nobody's trace
        note = {"at": self.clock(), "action_id": action.action_id, "delivery": what}
        self._notes.append((entry.slot, action.customer_id, orjson.dumps(note)))

    async def _write_notes(self) -> None:
        notes, self._notes = self._notes, []
        if not notes:
            return
        try:
            await self.store.add_traces(notes, self.trace_keep, self.trace_ttl_s)
        except StoreUnavailableError:
            # The trace is an account of delivery, not part of it: the actions stand
            # whether or not their notes are written; the count shows what went missing.
            self.stats["trace_notes_lost"] += len(notes)

    async def dispatch(self, batch: Sequence[OutboxEntry]) -> None:
        entries: list[OutboxEntry] = []
        actions: list[Action] = []
        done: list[OutboxEntry] = []
        for entry in batch:
            if entry.key.startswith(REJECTED_PREFIX):
                reason = orjson.loads(entry.action).get("reason", "rejected by its rule")
                await self.dead_letters.action_failed(entry.action, reason, "")
                self.stats["dead_lettered"] += 1
                done.append(entry)
                continue
            try:
                actions.append(action_from_json(entry.action))
                entries.append(entry)
            except ValidationError as error:
                await self.dead_letters.action_failed(entry.action, f"invalid action: {error}", "")
                self.stats["dead_lettered"] += 1
                done.append(entry)
        # 1. already sent before a crash: marked sent, delivered here but not yet marked,
        # or found at the sink. Noting that delivery is starting travels in the same
        # round: an entry dropped below is cleared from the outbox anyway, and one
        # deferred only costs a sink check if its shard dies before the retry.
        sent, _ = await asyncio.gather(
            self.sent.already_sent([a.idempotency_key for a in actions]),
            self.store.mark_attempted([(e.slot, e.key) for e in entries], self.clock()),
        )
        remembered = [a for a in actions if a.idempotency_key in self.unmarked]
        sent |= {a.idempotency_key for a in remembered}
        unchecked: list[OutboxEntry] = []
        sent |= await self._found_at_sinks(entries, actions, sent, unchecked)
        waiting = {e.key for e in unchecked}
        keep = [
            (e, a)
            for e, a in zip(entries, actions, strict=True)
            if a.idempotency_key not in sent and e.key not in waiting
        ]
        self.stats["duplicates_skipped"] += len(entries) - len(keep) - len(unchecked)
        done += [e for e, a in zip(entries, actions, strict=True) if a.idempotency_key in sent]
        # 2. guardrails
        decisions = await self.policy.decide([a for _, a in keep]) if keep else []
        to_deliver: dict[str, list[tuple[OutboxEntry, Action]]] = {}
        for (entry, action), decision in zip(keep, decisions, strict=True):
            if decision.verdict == "deliver":
                to_deliver.setdefault(action.sink, []).append((entry, action))
            elif decision.verdict == "defer":
                self.stats["deferred"] += 1
                self._note(entry, action, f"deferred: {decision.reason}")
                if len(self._later) >= self.max_deferred:
                    # Left in the outbox; recovery offers it again once there is room.
                    self.stats["deferred_over_limit"] += 1
                    self._release(entry)
                else:
                    self._wait(entry, max(0.0, decision.until - self.clock()))
            elif decision.verdict == "reject":
                await self._give_up(entry, decision.reason, "")
                done.append(entry)
            else:
                self.stats[decision.verdict] += 1
                self._note(entry, action, f"held ({decision.verdict}): {decision.reason}")
                done.append(entry)
        # 3. deliver, sink by sink; each action's result is its own
        delivered: list[tuple[OutboxEntry, Action]] = []
        for sink_name, items in to_deliver.items():
            sink = self.sinks.get(sink_name)
            if sink is None:
                for entry, _ in items:
                    await self._give_up(entry, f"sink {sink_name!r} is not configured", sink_name)
                    done.append(entry)
                continue
            try:
                results = await sink.deliver([a for _, a in items])
            except Exception as error:  # a sink that raises fails these actions alone
                results = [Delivery.failed(f"{sink_name}: {error!r}")] * len(items)
            for (entry, action), result in zip(items, results, strict=True):
                if result.ok:
                    delivered.append((entry, action))
                    self.unmarked[action.idempotency_key] = action
                    self.stats[f"delivered_{sink_name}"] += 1
                    self._note(entry, action, f"delivered ({sink_name})")
                    if entry.read_at is not None:
                        self.latency_ms.observe((self.clock() - entry.read_at) * 1000)
                elif not result.retryable:
                    await self._give_up(entry, result.reason, sink_name)
                    done.append(entry)
                elif not result.counts:  # an outage: wait, attempts untouched
                    self.stats["waiting"] += 1
                    self._wait(entry, self.base_backoff_s * 4 * random.uniform(0.5, 1.5))
                elif await self._failed_attempt(entry, result.reason, sink_name):
                    done.append(entry)
        # 4. mark sent and count against caps, then 5. clear the outbox
        to_mark = [a for _, a in delivered] + remembered
        done += [e for e, _ in delivered]
        marks = []
        if to_mark:
            marks += [
                self.sent.mark_sent([a.idempotency_key for a in to_mark]),
                self.policy.delivered(to_mark),
            ]
        # Clearing may run with the marks: a crash between them leaves an entry in the
        # outbox that step 1 finds marked (or at the sink) and does not send again. The
        # trace notes ride along; losing them to a crash loses no action.
        await asyncio.gather(
            *marks, self.store.clear_outbox([(e.slot, e.key) for e in done]), self._write_notes()
        )
        for action in to_mark:
            self.unmarked.pop(action.idempotency_key, None)
        for entry in done:
            self._release(entry)

    async def _failed_attempt(self, entry: OutboxEntry, reason: str, sink: str) -> bool:
        """Count a failed attempt: wait and retry, or dead-letter when out of attempts.
        Returns whether the entry is finished (dead-lettered)."""
        self.attempts[entry.key] += 1
        if self.attempts[entry.key] >= self.max_attempts:
            await self._give_up(entry, f"{reason} (after {self.max_attempts} attempts)", sink)
            return True
        self.stats["retries"] += 1
        backoff = self.base_backoff_s * 2 ** (self.attempts[entry.key] - 1)
        self._wait(entry, backoff * random.uniform(0.5, 1.5))
        return False

    async def _found_at_sinks(
        self,
        entries: Sequence[OutboxEntry],
        actions: Sequence[Action],
        sent: set[str],
        unchecked: list[OutboxEntry],
    ) -> set[str]:
        """Keys of interrupted deliveries that the sink turns out to have; marked sent.

        A sink that cannot answer now (its broker is down) leaves those entries in
        `unchecked`: they wait and are asked about again, never sent blind."""
        asked: dict[str, tuple[list[OutboxEntry], set[str], float]] = {}
        for entry, action in zip(entries, actions, strict=True):
            if entry.attempted_at is None or action.idempotency_key in sent:
                continue
            items, keys, since = asked.get(action.sink, ([], set(), entry.attempted_at))
            items.append(entry)
            keys.add(action.idempotency_key)
            asked[action.sink] = (items, keys, min(since, entry.attempted_at))
        found: set[str] = set()
        for sink_name, (items, keys, since) in asked.items():
            sink = self.sinks.get(sink_name)
            if sink is None:
                continue
            try:
                found |= await sink.delivered(keys, since)
            except Exception as error:
                log.warning("cannot ask sink %s what it has: %r", sink_name, error)
                self.stats["sink_check_errors"] += 1
                for entry in items:
                    self._wait(entry, self.base_backoff_s * 5 * random.uniform(0.5, 1.5))
                unchecked += items
        if found:
            await self.sent.mark_sent(sorted(found))
            self.stats["found_at_sink"] += len(found)
        return found

    async def _give_up(self, entry: OutboxEntry, reason: str, sink: str) -> None:
        await self.dead_letters.action_failed(entry.action, reason, sink)
        self.stats["dead_lettered"] += 1
        if not entry.key.startswith(REJECTED_PREFIX):
            self._note(entry, None, f"dead-lettered: {reason}")
