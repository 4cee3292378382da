"""The outbox dispatcher: delivers saved actions to sinks, each at most once.

Checkpoint order for an action (the shard saved it in the slot's outbox, together with the
customer's state, before acking the batch that produced it):

1. skip it if its idempotency key is already marked sent (a crash after step 4 and before
   step 5 left it in the outbox);
2. ask the guardrails: deliver, defer (quiet hours), suppress or hold out;
3. deliver through its sink; a failure is retried with exponential backoff and jitter;
   one that cannot succeed, or that ran out of attempts, goes to the dead-letter topic;
4. mark its idempotency key sent;
5. remove it from the outbox.

A crash between 3 and 4 is the only window in which an action can be delivered twice, and
the record carries its idempotency key so a receiver can drop the copy.

The queue in front of the dispatcher is bounded: when sinks are slow, `submit` waits, the
shard's ack waits, and ingest slows down. Actions are never dropped to keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError

from actors.actions import Action, action_from_json, idempotency_key
from actors.actor import RejectedAction
from actors.errors import EngageError, StoreUnavailableError
from actors.keys import Keys
from actors.sinks.base import Sink
from actors.store import OutboxEntry, StateStore

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
    verdict: Literal["deliver", "defer", "suppress", "holdout"]
    reason: str = ""
    until: float = 0.0


DELIVER = Decision("deliver")


class ActionPolicy(Protocol):
    """Guardrails consulted before delivery (see actors.guardrails)."""

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
        # Keys queued, in delivery, or waiting for a retry: outbox recovery skips them.
        self.pending: set[str] = set()
        self.attempts: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._timers: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

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

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        for task in [self._task, *self._timers]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued or retrying (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a set
            await asyncio.sleep(0.01)
        return not self.pending

    # ---- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.dispatch(batch)
            except EngageError as error:
                # Redis or a sink's backend is down: everything stays in the outbox and is
                # tried again after a pause.
                log.warning("dispatch failed, retrying: %s", error)
                self.stats["dispatch_errors"] += 1
                self._retry_later(batch, self.base_backoff_s * 5)
            except Exception:
                log.exception("dispatch crashed; entries stay in the outbox")
                self.stats["dispatch_errors"] += 1
                self._retry_later(batch, self.base_backoff_s * 5)

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
        # 1. already sent before a crash: marked sent, or found at the sink. Noting that
        # delivery is starting travels in the same round: an entry dropped below is
        # cleared from the outbox anyway, and one deferred only costs a sink check if
        # its shard dies before the retry.
        sent, _ = await asyncio.gather(
            self.sent.already_sent([a.idempotency_key for a in actions]),
            self.store.mark_attempted([(e.slot, e.key) for e in entries], time.time()),
        )
        sent |= await self._found_at_sinks(entries, actions, sent)
        keep = [
            (e, a) for e, a in zip(entries, actions, strict=True) if a.idempotency_key not in sent
        ]
        self.stats["duplicates_skipped"] += len(entries) - len(keep)
        done += [e for e, a in zip(entries, actions, strict=True) if a.idempotency_key in sent]
        # 2. guardrails
        decisions = await self.policy.decide([a for _, a in keep]) if keep else []
        to_deliver: dict[str, list[tuple[OutboxEntry, Action]]] = {}
        for (entry, action), decision in zip(keep, decisions, strict=True):
            if decision.verdict == "deliver":
                to_deliver.setdefault(action.sink, []).append((entry, action))
            elif decision.verdict == "defer":
                self.stats["deferred"] += 1
                self._retry_later([entry], max(0.0, decision.until - time.time()))
            else:
                self.stats[decision.verdict] += 1
                done.append(entry)
        # 3. deliver, sink by sink
        delivered: list[tuple[OutboxEntry, Action]] = []
        for sink_name, items in to_deliver.items():
            sink = self.sinks.get(sink_name)
            if sink is None:
                for entry, _ in items:
                    await self._give_up(entry, f"sink {sink_name!r} is not configured", sink_name)
                    done.append(entry)
                continue
            results = await sink.deliver([a for _, a in items])
            for (entry, action), result in zip(items, results, strict=True):
                if result.ok:
                    delivered.append((entry, action))
                    self.stats[f"delivered_{sink_name}"] += 1
                elif not result.retryable or self.attempts[entry.key] + 1 >= self.max_attempts:
                    await self._give_up(entry, result.reason, sink_name)
                    done.append(entry)
                else:
                    self.attempts[entry.key] += 1
                    self.stats["retries"] += 1
                    backoff = self.base_backoff_s * 2 ** (self.attempts[entry.key] - 1)
                    self._retry_later([entry], backoff * random.uniform(0.5, 1.5))
        # 4. mark sent and count against caps, then 5. clear the outbox
        done += [e for e, _ in delivered]
        marks = []
        if delivered:
            marks += [
                self.sent.mark_sent([a.idempotency_key for _, a in delivered]),
                self.policy.delivered([a for _, a in delivered]),
            ]
        # Clearing may run with the marks: a crash between them leaves an entry in the
        # outbox that step 1 finds marked (or at the sink) and does not send again.
        await asyncio.gather(*marks, self.store.clear_outbox([(e.slot, e.key) for e in done]))
        for entry in done:
            self.pending.discard(entry.key)
            self.attempts.pop(entry.key, None)

    async def _found_at_sinks(
        self, entries: Sequence[OutboxEntry], actions: Sequence[Action], sent: set[str]
    ) -> set[str]:
        """Keys of interrupted deliveries that the sink turns out to have; marked sent."""
        asked: dict[str, tuple[set[str], float]] = {}
        for entry, action in zip(entries, actions, strict=True):
            if entry.attempted_at is None or action.idempotency_key in sent:
                continue
            keys, since = asked.get(action.sink, (set(), entry.attempted_at))
            keys.add(action.idempotency_key)
            asked[action.sink] = (keys, min(since, entry.attempted_at))
        found: set[str] = set()
        for sink_name, (keys, since) in asked.items():
            sink = self.sinks.get(sink_name)
            if sink is not None:
                found |= await sink.delivered(keys, since)
        if found:
            await self.sent.mark_sent(sorted(found))
            self.stats["found_at_sink"] += len(found)
        return found

    async def _give_up(self, entry: OutboxEntry, reason: str, sink: str) -> None:
        await self.dead_letters.action_failed(entry.action, reason, sink)
        self.stats["dead_lettered"] += 1

    def _retry_later(self, entries: Sequence[OutboxEntry], delay_s: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay_s)
            for entry in entries:
                await self.queue.put(entry)

        task = asyncio.create_task(later())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)
