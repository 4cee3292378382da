"""The in-process state store for unit tests: the contract of actors.storage.store with
the same semantics as Redis, no durability."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from actors.model.identity import MergeSource, Visitor
from actors.storage.slots import SlotTable
from actors.storage.store import (
    Commit,
    DueReminder,
    Loaded,
    OutboxEntry,
    merge_guards,
    owner_of,
    reminder_member,
    split_reminder,
)


class MemoryStateStore:
    """In-process store for unit tests; same semantics as Redis, no durability."""

    def __init__(self) -> None:
        self.states: dict[tuple[int, str], tuple[int, bytes]] = {}
        self.reminders: dict[int, dict[str, float]] = {}
        self.outboxes: dict[int, dict[str, bytes]] = {}
        self.attempts: dict[int, dict[str, float]] = {}
        self.guards: dict[tuple[int, str], dict[str, str]] = {}
        self.counters: dict[int, Counter[str]] = {}
        self.ttls: dict[tuple[int, str], int] = {}  # set, not enforced: tests read it
        self.traces: dict[tuple[int, str], list[bytes]] = {}  # newest first
        self.links: dict[tuple[int, str], str] = {}  # visitor -> customer merged into
        self.tombstones: dict[tuple[int, str], tuple[float, float]] = {}  # (at, until)
        self.clock = time.time
        self.table: SlotTable | None = None
        self.releases: dict[int, int] = {}
        # (slot, segment) -> customer -> when its state expires; (slot, customer) -> its
        # segments (the state key's field g in Redis).
        self.members_by_segment: dict[tuple[int, str], dict[str, float]] = {}
        self.memberships: dict[tuple[int, str], tuple[str, ...]] = {}

    async def load_many(self, items: Sequence[tuple[int, str]]) -> list[Loaded]:
        out = []
        for item in items:
            version, data = self.states.get(item, (0, None))
            forgotten = self._forgotten_at(item)
            out.append(Loaded(data or None, version, self.links.get(item), forgotten))
        return out

    def _forgotten_at(self, item: tuple[int, str]) -> float | None:
        tombstone = self.tombstones.get(item)
        if tombstone is None or tombstone[1] <= self.clock():
            return None
        return tombstone[0]

    async def visitor(self, slot: int, actor_id: str) -> Visitor:
        version, data = self.states.get((slot, actor_id), (0, None))
        reminders = await self.reminders_of(slot, actor_id)
        forgotten = self._forgotten_at((slot, actor_id)) is not None
        return Visitor(
            version, data or None, self.links.get((slot, actor_id)), reminders, forgotten
        )

    async def linked_to(self, slot: int, actor_id: str) -> str | None:
        return self.links.get((slot, actor_id))

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | None]:
        results: list[int | None] = []
        for c in commits:
            key = (c.slot, c.customer_id)
            current = self.states.get(key, (0, b""))[0]
            forgotten = self._forgotten_at(key) is not None
            if (
                forgotten
                or current != c.expected_version
                or not all(self._mergeable(c, m) for m in c.merges)
            ):
                results.append(None)
                continue
            self.states[key] = (current + 1, c.state)
            if c.ttl_s > 0:
                self.ttls[key] = c.ttl_s
            else:
                self.ttls.pop(key, None)
            reminders = self.reminders.setdefault(c.slot, {})
            for kind, due in c.reminders_fired:
                member = reminder_member(kind, c.customer_id)
                if reminders.get(member) == due:
                    del reminders[member]
            for kind in c.reminders_cancelled:
                reminders.pop(reminder_member(kind, c.customer_id), None)
            for kind, due in c.reminders_set:
                reminders[reminder_member(kind, c.customer_id)] = due
            outbox = self.outboxes.setdefault(c.slot, {})
            for action_key, action in c.actions:
                outbox[action_key] = action
            self.counters.setdefault(c.slot, Counter()).update(c.counters)
            if c.guard:
                self.guards.setdefault(key, {}).update(c.guard)
            if c.trace and c.trace_keep > 0:
                self._push_traces(key, c.trace, c.trace_keep)
            self._set_memberships(c.slot, c.customer_id, c.segments, c.ttl_s)
            for merge in c.merges:
                self._take_over(c, merge)
            results.append(current + 1)
        return results

    def _set_memberships(
        self, slot: int, customer_id: str, segments: Sequence[str], ttl_s: int
    ) -> None:
        expiry = self.clock() + ttl_s if ttl_s > 0 else float("inf")
        for name in self.memberships.pop((slot, customer_id), ()):
            self.members_by_segment.get((slot, name), {}).pop(customer_id, None)
        for name in segments:
            self.members_by_segment.setdefault((slot, name), {})[customer_id] = expiry
        if segments:
            self.memberships[(slot, customer_id)] = tuple(segments)

    def _mergeable(self, c: Commit, merge: MergeSource) -> bool:
        source = (merge.slot, merge.actor_id)
        linked = self.links.get(source)
        return self.states.get(source, (0, b""))[0] == merge.version and linked in (
            None,
            c.customer_id,
        )

    def _take_over(self, c: Commit, merge: MergeSource) -> None:
        """As the Redis commit does: the link in the visitor's place, its reminders and
        guardrail counters moved to the customer."""
        source = (merge.slot, merge.actor_id)
        self.states[source] = (self.states.get(source, (0, b""))[0] + 1, b"")
        self._set_memberships(merge.slot, merge.actor_id, (), 0)
        self.links[source] = c.customer_id
        visiting = self.reminders.setdefault(merge.slot, {})
        reminders = self.reminders.setdefault(c.slot, {})
        for kind, due in merge.reminders:
            visiting.pop(reminder_member(kind, merge.actor_id), None)
            reminders.setdefault(reminder_member(kind, c.customer_id), due)
        guard = self.guards.pop(source, None)
        if guard:
            self.guards[(c.slot, c.customer_id)] = merge_guards(
                self.guards.get((c.slot, c.customer_id), {}), guard
            )

    async def due_reminders(
        self, slots: Sequence[int], now: float, limit: int
    ) -> list[DueReminder]:
        due = []
        for slot in slots:
            for member, at in self.reminders.get(slot, {}).items():
                if at <= now:
                    kind, customer_id = split_reminder(member)
                    due.append(DueReminder(slot, customer_id, kind, at))
        due.sort(key=lambda r: r.due_at)
        return due[:limit]

    async def earliest_reminders(self, slots: Sequence[int]) -> dict[int, float]:
        return {s: min(self.reminders[s].values()) for s in slots if self.reminders.get(s)}

    async def reminders_of(self, slot: int, customer_id: str) -> dict[str, float]:
        out = {}
        for member, at in self.reminders.get(slot, {}).items():
            kind, owner = split_reminder(member)
            if owner == customer_id:
                out[kind] = at
        return out

    async def outbox(self, slots: Sequence[int], limit: int) -> list[OutboxEntry]:
        entries = [
            OutboxEntry(slot, key, action, self.attempts.get(slot, {}).get(key))
            for slot in slots
            for key, action in self.outboxes.get(slot, {}).items()
        ]
        return entries[:limit]

    async def clear_outbox(self, entries: Sequence[tuple[int, str]]) -> None:
        for slot, key in entries:
            self.outboxes.get(slot, {}).pop(key, None)
            self.attempts.get(slot, {}).pop(key, None)

    async def mark_attempted(self, entries: Sequence[tuple[int, str]], at: float) -> None:
        for slot, key in entries:
            self.attempts.setdefault(slot, {}).setdefault(key, at)

    async def forget(
        self, slot: int, customer_id: str, reminder_kinds: Sequence[str], tombstone_s: int
    ) -> None:
        version = self.states.get((slot, customer_id), (0, b""))[0]
        self.states[(slot, customer_id)] = (version + 1, b"")
        now = self.clock()
        self.tombstones[(slot, customer_id)] = (now, now + tombstone_s)
        self.links.pop((slot, customer_id), None)
        self.guards.pop((slot, customer_id), None)
        self.traces.pop((slot, customer_id), None)
        self._set_memberships(slot, customer_id, (), 0)
        reminders = self.reminders.get(slot, {})
        for member in list(reminders):
            if split_reminder(member)[1] == customer_id:
                del reminders[member]
        outbox = self.outboxes.get(slot, {})
        for key, action in list(outbox.items()):
            if owner_of(action) == customer_id:
                del outbox[key]
                self.attempts.get(slot, {}).pop(key, None)

    async def segment_members(self, slot: int, name: str) -> dict[str, float]:
        return dict(self.members_by_segment.get((slot, name), {}))

    async def forgotten(self, now: float) -> dict[str, float]:
        return {cid: until for (_, cid), (_, until) in self.tombstones.items() if until > now}

    async def trace_of(self, slot: int, customer_id: str, limit: int) -> list[bytes]:
        return self.traces.get((slot, customer_id), [])[:limit]

    async def add_traces(
        self, items: Sequence[tuple[int, str, bytes]], keep: int, ttl_s: int
    ) -> None:
        for slot, customer_id, entry in items:
            key = (slot, customer_id)
            if key in self.states and self._forgotten_at(key) is None:
                self._push_traces(key, [entry], keep)

    def _push_traces(self, key: tuple[int, str], entries: Sequence[bytes], keep: int) -> None:
        """As LPUSH then LTRIM do: newest first, at most `keep`."""
        kept = self.traces.setdefault(key, [])
        kept[:0] = reversed(entries)
        del kept[keep:]

    async def retention_of(self, slot: int, customer_id: str) -> int | None:
        if (slot, customer_id) not in self.states or self._forgotten_at((slot, customer_id)):
            return None
        return self.ttls.get((slot, customer_id))

    async def load_slot_table(self) -> SlotTable | None:
        return self.table

    async def release_slots(self, slots: Sequence[int], epoch: int) -> None:
        self.releases.update(dict.fromkeys(slots, epoch))

    async def slot_releases(self, slots: Sequence[int]) -> dict[int, int]:
        return {s: self.releases[s] for s in slots if s in self.releases}

    async def save_slot_table(self, table: SlotTable, expected_epoch: int | None) -> bool:
        current = self.table.epoch if self.table else None
        if current != expected_epoch:
            return False
        self.table = table
        return True

    async def close(self) -> None:
        return None
