"""Which customers are live (activated) in a shard, and which to passivate.

Two generations instead of a timestamp per customer: customers used since the last
rotation are *young*, the others *old*. Every `idle_s` the old generation is passivated
and the young one becomes old. A customer is therefore passivated after at least
`idle_s` and at most `2 * idle_s` without a turn or a read, and no customer carries a
clock value: at a million live customers, that is 100 MB not spent on bookkeeping.

Over the live limit, old customers go first, then the least recently used young ones
(a used customer is re-inserted at the end of the young dict, so its order is recency).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator

from actors.model.state import CustomerState


class LiveSet:
    def __init__(self, idle_s: float, max_live: int, clock: Callable[[], float]) -> None:
        self.idle_s = idle_s
        self.max_live = max_live
        self.clock = clock
        self._young: dict[str, CustomerState] = {}
        self._old: dict[str, CustomerState] = {}
        self._rotated_at = clock()

    def get(self, customer_id: str) -> CustomerState | None:
        """The live state, marked as just used; None if not live."""
        state = self._young.pop(customer_id, None)
        if state is None:
            state = self._old.pop(customer_id, None)
            if state is None:
                return None
        self._young[customer_id] = state
        return state

    def peek(self, customer_id: str) -> CustomerState | None:
        state = self._young.get(customer_id)
        return state if state is not None else self._old.get(customer_id)

    def put(self, customer_id: str, state: CustomerState) -> None:
        self._old.pop(customer_id, None)
        self._young[customer_id] = state

    def discard(self, customer_id: str) -> bool:
        return (
            self._young.pop(customer_id, None) is not None
            or self._old.pop(customer_id, None) is not None
        )

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self._young or customer_id in self._old

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def __iter__(self) -> Iterator[str]:
        yield from list(self._old)
        yield from list(self._young)

    def passivate(self, busy: Container[str] = ()) -> int:
        """Drop idle customers and any beyond the limit; skip those in a turn."""
        dropped = 0
        now = self.clock()
        if now - self._rotated_at >= self.idle_s:
            self._rotated_at = now
            keep = {cid: s for cid, s in self._old.items() if cid in busy}
            dropped += len(self._old) - len(keep)
            keep.update(self._young)
            self._old, self._young = keep, {}
        for generation in (self._old, self._young):
            excess = len(self) - self.max_live
            if excess <= 0:
                break
            for cid in [c for c in generation if c not in busy][:excess]:
                del generation[cid]
                dropped += 1
        return dropped
