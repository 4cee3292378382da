"""When each of a shard's slots next has a reminder due.

Reading every owned slot's earliest reminder on each poll cost about 8% of a shard's CPU
under load, so the host keeps what it last read, lowers it with its own commits (a turn
that sets a reminder), and reads it all again every `rescan_s` or when its slots change
(another host may have written reminders into a slot it took over)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DueIndex:
    def __init__(self, rescan_s: float) -> None:
        self.rescan_s = rescan_s
        self._next: dict[int, float] = {}
        self._scanned_at = float("-inf")
        self._scanned_slots: frozenset[int] = frozenset()

    def stale(self, slots: frozenset[int], now: float) -> bool:
        """Whether to read the earliest reminders of `slots` from the store again."""
        return slots != self._scanned_slots or now - self._scanned_at >= self.rescan_s

    def rescanned(self, slots: frozenset[int], earliest: Mapping[int, float], now: float) -> None:
        self._next = dict(earliest)
        self._scanned_at, self._scanned_slots = now, slots

    def take_ready(self, owned: Iterable[int], now: float) -> list[int]:
        """The owned slots with a reminder due by `now`, forgotten here: an entry for one
        of them from now on is a reminder a turn set meanwhile."""
        mine = set(owned)
        ready = sorted(s for s, at in self._next.items() if at <= now and s in mine)
        for slot in ready:
            del self._next[slot]
        return ready

    def retry(self, slots: Iterable[int], now: float) -> None:
        """Firing these slots failed: read them again on the next poll."""
        for slot in slots:
            self._next[slot] = min(now, self._next.get(slot, now))

    def lower(self, slot: int, due: float) -> None:
        """A reminder at `due` was set on `slot` (by a commit, or read back after firing)."""
        if due < self._next.get(slot, float("inf")):
            self._next[slot] = due
