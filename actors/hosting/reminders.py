"""Reminder turns on a shard host: the reminders due on its slots, each customer's run in
one commit under that customer's lock, as an event's turns are.

A reminder whose turn raises (a bug, data its rule cannot handle) is isolated as a poison
event is: the customer's other reminders run again from the saved state without it, and
it is removed in their commit with its dead letter (the reason, through the outbox), so it
neither fires for ever nor holds back the later customers of its slot."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from actors.config import ActorConfig
from actors.delivery.letters import rejection_entry
from actors.delivery.outbox import Dispatcher
from actors.errors import ContentionError, EngageError
from actors.hosting.batch import MAX_CONFLICT_RETRIES, add_reminder_changes, traces_of
from actors.hosting.due import DueIndex
from actors.hosting.locks import CustomerLocks
from actors.model.actions import Action, action_to_json
from actors.model.state import CustomerState
from actors.model.state_format import state_to_json
from actors.storage.store import Commit, DueReminder, OutboxEntry, StateStore
from actors.turn.actor import CustomerActor
from actors.turn.outcome import RejectedAction

log = logging.getLogger(__name__)


class ReminderHost(Protocol):
    """What reminder turns use of their shard host."""

    config: ActorConfig
    store: StateStore
    actor: CustomerActor
    dispatcher: Dispatcher
    clock: Callable[[], float]
    locks: CustomerLocks
    owned_slots: set[int]
    stats: Counter[str]

    async def activate(self, items: list[tuple[int, str]]) -> None: ...
    def live_state(self, customer_id: str) -> CustomerState: ...
    def drop_live(self, customer_id: str) -> None: ...
    def ttl(self, customer_id: str) -> int: ...
    def count_actions(self, actions: Sequence[Action]) -> None: ...


class ReminderTurns:
    def __init__(self, host: ReminderHost) -> None:
        self.host = host
        self.due = DueIndex(host.config.reminder_rescan_s)

    def committed(self, commit: Commit) -> None:
        """A batch's commit set reminders: they may be due before the next rescan."""
        for _, due in commit.reminders_set:
            self.due.lower(commit.slot, due)

    async def fire_due(self, limit: int = 1000) -> int:
        """Run the turns of reminders due on the host's slots; how many fired."""
        host = self.host
        if not host.owned_slots:
            return 0
        now = host.clock()
        slots = frozenset(host.owned_slots)
        if self.due.stale(slots, now):
            self.due.rescanned(slots, await host.store.earliest_reminders(sorted(slots)), now)
        ready = self.due.take_ready(slots, now)
        if not ready:
            return 0
        try:
            fired = await self._fire(ready, now, limit)
            left = await host.store.earliest_reminders(ready)
        except BaseException:
            self.due.retry(ready, now)
            raise
        for slot, at in left.items():
            self.due.lower(slot, at)
        return fired

    async def _fire(self, slots: list[int], now: float, limit: int) -> int:
        host = self.host
        due = await host.store.due_reminders(slots, now, limit)
        if not due:
            return 0
        by_customer: dict[str, list[DueReminder]] = {}
        for reminder in due:
            by_customer.setdefault(reminder.customer_id, []).append(reminder)
        fired = 0
        for cid in sorted(by_customer):
            async with host.locks.holding([cid]):
                try:
                    fired += await self._run(cid, by_customer[cid])
                except BaseException:
                    host.drop_live(cid)
                    raise
        host.stats["reminders_fired"] += fired
        return fired

    async def _run(self, customer_id: str, reminders: list[DueReminder]) -> int:
        """Run a customer's due reminders in one commit; how many fired."""
        host = self.host
        slot = reminders[0].slot
        poisoned: dict[tuple[str, float], str] = {}
        for _attempt in range(MAX_CONFLICT_RETRIES + len(reminders)):
            await host.activate([(slot, customer_id)])
            state = host.live_state(customer_id)
            if state.merged_into is not None or state.forgotten_at is not None:
                # Read due just before its visitor's merge moved it to the customer, or
                # just before the customer was forgotten (its reminders went with it).
                return 0
            commit = Commit(
                slot,
                customer_id,
                state.version,
                b"",
                ttl_s=host.ttl(customer_id),
                trace_keep=host.config.trace_turns,
                trace_ttl_s=host.config.trace_retention_s,
                # Unchanged by reminders; given so that their expiry moves with the state's.
                segments=tuple(state.segments or ()),
            )
            entries: list[OutboxEntry] = []
            try:
                for reminder in reminders:
                    entries += await self._turn(customer_id, state, reminder, commit, poisoned)
            except _PoisonReminderError:
                host.drop_live(customer_id)  # the others run again from the saved state
                continue
            commit.state = state_to_json(state)
            (version,) = await host.store.commit_many([commit])
            if version is None:
                host.drop_live(customer_id)
                continue
            state.version = version
            self.committed(commit)  # a journey's next wake may be due before a rescan
            host.stats["actions"] += len(entries)
            await host.dispatcher.submit(entries)
            return len(reminders) - len(poisoned)
        raise ContentionError([customer_id])

    async def _turn(
        self,
        customer_id: str,
        state: CustomerState,
        reminder: DueReminder,
        commit: Commit,
        poisoned: dict[tuple[str, float], str],
    ) -> list[OutboxEntry]:
        """One reminder's turn, added to `commit`; the outbox entries it made."""
        host = self.host
        slot = commit.slot
        commit.reminders_fired.append((reminder.kind, reminder.due_at))
        reason = poisoned.get((reminder.kind, reminder.due_at))
        if reason is not None:
            key, raw = rejection_entry(_rejected_reminder(customer_id, reminder, reason))
            commit.actions.append((key, raw))
            return [OutboxEntry(slot, key, raw)]
        try:
            outcome = await host.actor.on_reminder(
                customer_id, state, reminder.kind, reminder.due_at
            )
        except EngageError:
            raise
        except Exception as error:  # a poison reminder must not stall its slot
            log.exception(
                "reminder turn failed; reminder dead-lettered",
                extra={"customer_id": customer_id, "reminder": reminder.kind},
            )
            poisoned[(reminder.kind, reminder.due_at)] = (
                f"reminder turn failed: {type(error).__name__}: {error}"
            )
            host.stats["reminder_errors"] += 1
            raise _PoisonReminderError from error
        commit.trace += traces_of([outcome])
        # A journey's wake may wait again (or end the run): saved with the step it reached.
        add_reminder_changes(commit, outcome)
        commit.counters += outcome.counters
        commit.guard.update(outcome.guard)
        entries = []
        for action in outcome.outbound:
            raw = action_to_json(action)
            commit.actions.append((action.idempotency_key, raw))
            entries.append(OutboxEntry(slot, action.idempotency_key, raw))
        host.count_actions(outcome.outbound)
        return entries


class _PoisonReminderError(Exception):
    """A reminder turn raised: the customer's reminders run again without it."""


def _rejected_reminder(customer_id: str, reminder: DueReminder, reason: str) -> RejectedAction:
    return RejectedAction(
        f"reminder:{reminder.kind}",
        customer_id,
        f"reminder.{reminder.kind}.{reminder.due_at:.3f}",
        reason,
    )
