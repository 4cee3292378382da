"""Slots changing hands between live shards, without both delivering their actions.

The previous owner, once it adopted the new slot table and dropped the slot's queued
actions, writes a release (the table epoch it let the slot go at). The new owner fences
the slot's outbox until that release, or `grace_s` if none comes (the previous owner died:
nothing of it is in flight); an action whose delivery began at the previous owner moments
ago waits out `grace_s` in any case, since that owner may still be delivering it.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.storage.store import OutboxEntry, StateStore


class Handover:
    def __init__(self, store: StateStore, grace_s: float) -> None:
        self.store = store
        self.grace_s = grace_s
        # Slots taken over from a live shard: when, and the table epoch that gave them.
        self._gained: dict[int, tuple[float, int]] = {}
        # Slots let go whose release is not yet written (Redis out of reach): epoch.
        self._unreleased: dict[int, int] = {}

    def gained(self, slots: set[int], at: float, epoch: int) -> None:
        self._gained.update(dict.fromkeys(slots, (at, epoch)))
        for slot in slots:
            self._unreleased.pop(slot, None)

    def lost(self, slots: set[int], epoch: int) -> None:
        self._unreleased.update(dict.fromkeys(slots, epoch))

    async def release(self) -> None:
        """Write the releases owed (raises OutageError: tried again on the next call)."""
        for epoch in sorted(set(self._unreleased.values())):
            slots = sorted(s for s, e in self._unreleased.items() if e == epoch)
            await self.store.release_slots(slots, epoch)
            for slot in slots:
                self._unreleased.pop(slot, None)

    async def deliverable(self, entries: Sequence[OutboxEntry], now: float) -> list[OutboxEntry]:
        """`entries` read from the outbox, without those the previous owners of their
        slots may still deliver."""
        self._gained = {s: g for s, g in self._gained.items() if now - g[0] < self.grace_s}
        if not self._gained:
            return list(entries)
        releases = await self.store.slot_releases(sorted(self._gained))
        fenced = {s for s, (_, epoch) in self._gained.items() if releases.get(s, 0) < epoch}
        return [
            e
            for e in entries
            if e.slot not in fenced
            and not (
                e.slot in self._gained
                and e.attempted_at is not None
                and now - e.attempted_at < self.grace_s
            )
        ]
