"""Where customer actors keep what must survive a crash: state, reminders, outbox.

`StateStore` is the contract; actors.storage.redis_store.RedisStateStore is the real
backend and actors.storage.memory_store.MemoryStateStore the in-process one for unit
tests. tests/actors/storage/test_store_contract.py runs the same tests on both.

The shard calls `commit_many` once per batch, after all turns of the batch and before it
acks. One commit writes, atomically per customer: the new state (compare-and-set on the
version, so two hosts of a customer can never both write), the actions of the turn into
the slot's outbox, and reminder changes. Either all of a customer's effects are durable or
none are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from actors.model.identity import MergeSource, Visitor
from actors.storage.slots import SlotTable


@dataclass(frozen=True, slots=True)
class Loaded:
    data: bytes | None
    version: int
    # The customer a visitor was merged into (actors.model.identity); its data is gone then.
    linked_to: str | None = None
    # When the actor was forgotten, while its tombstone lasts: nothing of it is kept, its
    # events are not applied and no commit for it is taken (see `forget`).
    forgotten_at: float | None = None


@dataclass(slots=True)
class Commit:
    slot: int
    customer_id: str
    expected_version: int
    state: bytes
    actions: list[tuple[str, bytes]] = field(default_factory=list)  # (idempotency key, json)
    reminders_set: list[tuple[str, float]] = field(default_factory=list)
    reminders_cancelled: list[str] = field(default_factory=list)
    # Reminders this turn handled: removed only if still due at that time (not re-set).
    reminders_fired: list[tuple[str, float]] = field(default_factory=list)
    # Outcome counters of the slot to increment, and guardrail facts of the customer.
    counters: list[str] = field(default_factory=list)
    guard: dict[str, str] = field(default_factory=dict)
    # Seconds the saved state lives without another commit (0: forever). Every commit
    # sets it again, so it counts from the customer's last activity.
    ttl_s: int = 0
    # Decision traces of the turns (JSON, oldest first), kept newest first, at most
    # `trace_keep` of them, for `trace_ttl_s` after the last (actors.turn.actor TurnOutcome).
    trace: list[bytes] = field(default_factory=list)
    trace_keep: int = 0
    trace_ttl_s: int = 0
    # Visitors merged into this customer by this commit (actors.model.identity): each must still
    # be at the version read, else the whole commit is a version conflict.
    merges: list[MergeSource] = field(default_factory=list)
    # The audiences the customer is in now (actors.rules.segments): the slot's member sets
    # follow, the ones it left drop it, and a merged visitor leaves all of its own.
    segments: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class DueReminder:
    slot: int
    customer_id: str
    kind: str
    due_at: float


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    slot: int
    key: str
    action: bytes
    # When a dispatcher began delivering it, if one did: a crash since then leaves it
    # unknown whether the sink got it, and the dispatcher asks the sink before resending.
    attempted_at: float | None = None
    # When ingest read the event that triggered it (wall clock), for the event-to-action
    # latency; unknown for actions recovered from the outbox or fired by reminders.
    read_at: float | None = None


class StateStore(Protocol):
    async def load_many(self, items: Sequence[tuple[int, str]]) -> list[Loaded]:
        """State and version of each (slot, customer); version 0 and no data if new."""
        ...

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | None]:
        """Apply each commit atomically; the new version, or None on a version conflict."""
        ...

    async def due_reminders(
        self, slots: Sequence[int], now: float, limit: int
    ) -> list[DueReminder]: ...

    async def earliest_reminders(self, slots: Sequence[int]) -> dict[int, float]:
        """When the next reminder of each slot is due; slots without any are left out."""
        ...

    async def reminders_of(self, slot: int, customer_id: str) -> dict[str, float]: ...

    async def outbox(self, slots: Sequence[int], limit: int) -> list[OutboxEntry]: ...

    async def clear_outbox(self, entries: Sequence[tuple[int, str]]) -> None: ...

    async def mark_attempted(self, entries: Sequence[tuple[int, str]], at: float) -> None:
        """Record that delivery of these outbox entries is starting."""
        ...

    async def forget(
        self, slot: int, customer_id: str, reminder_kinds: Sequence[str], tombstone_s: int
    ) -> None:
        """Delete state, reminders, guardrail counters, traces and pending actions of a
        customer, and leave a tombstone in the state's place for `tombstone_s`: every
        later load sees the actor forgotten, every commit for it is refused (a host that
        had it live cannot write it back), a visitor's link to it is gone, and export and
        training leave its events out (`forgotten`)."""
        ...

    async def forgotten(self, now: float) -> dict[str, float]:
        """The actors whose tombstone still lasts at `now`, with when each one ends."""
        ...

    async def visitor(self, slot: int, actor_id: str) -> Visitor:
        """A visitor as a customer's merge needs it (actors.model.identity)."""
        ...

    async def linked_to(self, slot: int, actor_id: str) -> str | None:
        """The customer a visitor was merged into, if it was."""
        ...

    async def retention_of(self, slot: int, customer_id: str) -> int | None:
        """Seconds until the customer's saved state expires; None if it never does (or
        there is none)."""
        ...

    async def trace_of(self, slot: int, customer_id: str, limit: int) -> list[bytes]:
        """The customer's latest decision traces, newest first (JSON)."""
        ...

    async def add_traces(
        self, items: Sequence[tuple[int, str, bytes]], keep: int, ttl_s: int
    ) -> None:
        """Add entries (slot, customer, JSON) to the traces of customers that still have a
        saved state (never to one forgotten meanwhile)."""
        ...

    async def segment_members(self, slot: int, name: str) -> dict[str, float]:
        """The slot's customers in segment `name`, each with when its state expires
        (inf: never), as the commits left them (actors.campaigns.audiences reads them)."""
        ...

    async def load_slot_table(self) -> SlotTable | None: ...

    async def release_slots(self, slots: Sequence[int], epoch: int) -> None:
        """Say that this shard stopped delivering the actions of `slots` once it adopted
        the slot table of `epoch`: their new owner may deliver them now."""
        ...

    async def slot_releases(self, slots: Sequence[int]) -> dict[int, int]:
        """The epoch each of `slots` was last released at (absent: never)."""
        ...

    async def save_slot_table(self, table: SlotTable, expected_epoch: int | None) -> bool:
        """Store the table if the stored epoch is still `expected_epoch` (None: absent)."""
        ...

    async def close(self) -> None: ...


def merge_guards(kept: dict[str, str], taken: dict[str, str]) -> dict[str, str]:
    """A customer's guardrail facts with a merged visitor's: frequency-cap counts add up,
    a withdrawal of consent and the latest fraud alert win (the stricter answer), the
    rest is kept."""
    out = dict(kept)
    for name, value in taken.items():
        if name.startswith("cap|"):
            out[name] = str(int(out.get(name, "0")) + int(value))
        elif name == "optout":
            out[name] = "1" if value == "1" else out.get(name, value)
        elif name.startswith("consent|"):
            out[name] = "0" if value == "0" else out.get(name, value)
        elif name == "fraud_at":
            out[name] = max(out.get(name, value), value, key=float)
        else:
            out.setdefault(name, value)
    return out


def reminder_member(kind: str, customer_id: str) -> str:
    """A reminder's member in its slot's sorted set."""
    return f"{kind}|{customer_id}"


def split_reminder(member: str) -> tuple[str, str]:
    kind, _, customer_id = member.partition("|")
    return kind, customer_id


def owner_of(action: bytes | str) -> str | None:
    """The customer an outbox entry belongs to: an action, or the dead letter of an action
    a rule could not build (`{"rejected_action": {...}}`, actors.delivery.outbox)."""
    try:
        body = json.loads(action)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    inner = body.get("rejected_action")
    source = inner if isinstance(inner, dict) else body
    customer = source.get("customer_id")
    return customer if isinstance(customer, str) else None
