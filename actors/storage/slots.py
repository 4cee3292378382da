"""Customers → slots → shards.

A customer's slot is a stable hash of its id modulo a slot count fixed for the life of a
deployment. Slots map to shards through a table with an epoch; when shards are added or
lost, only the slots that must move change owner, and the epoch goes up so every router
notices.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass


def slot_of(customer_id: str, slots: int) -> int:
    """Stable across processes and releases (crc32, not Python's salted `hash`)."""
    return zlib.crc32(customer_id.encode()) % slots


@dataclass(frozen=True, slots=True)
class SlotTable:
    epoch: int
    owners: tuple[int, ...]  # owners[slot] = shard index

    @classmethod
    def initial(cls, slots: int, shards: int) -> SlotTable:
        return cls(1, tuple(slot % shards for slot in range(slots)))

    @property
    def shards(self) -> list[int]:
        return sorted(set(self.owners))

    def owner(self, slot: int) -> int:
        return self.owners[slot]

    def slots_of(self, shard: int) -> list[int]:
        return [slot for slot, owner in enumerate(self.owners) if owner == shard]

    def rebalance(self, shards: list[int]) -> SlotTable:
        """Spread slots evenly over `shards`, moving as few slots as possible."""
        if not shards:
            raise ValueError("at least one shard is needed")
        alive = sorted(set(shards))
        count = len(self.owners)
        target = {shard: count // len(alive) for shard in alive}
        for shard in alive[: count % len(alive)]:
            target[shard] += 1
        owners = list(self.owners)
        held: Counter[int] = Counter()
        homeless: list[int] = []
        for slot, owner in enumerate(owners):
            if owner in target and held[owner] < target[owner]:
                held[owner] += 1
            else:
                homeless.append(slot)
        for shard in alive:
            while held[shard] < target[shard]:
                owners[homeless.pop()] = shard
                held[shard] += 1
        if tuple(owners) == self.owners:
            return self
        return SlotTable(self.epoch + 1, tuple(owners))

    def successor(self) -> SlotTable:
        """The same owners under the next epoch: what a router or the supervisor writes back
        when the table is gone from Redis (a restart without persistence, a flush), so that
        every shard takes it as news."""
        return SlotTable(self.epoch + 1, self.owners)

    def to_json(self) -> str:
        return json.dumps({"epoch": self.epoch, "owners": list(self.owners)})

    @classmethod
    def from_json(cls, raw: str | bytes) -> SlotTable:
        data = json.loads(raw)
        return cls(int(data["epoch"]), tuple(int(o) for o in data["owners"]))
