"""What became of each action, noted in its customer's decision trace: held by a
guardrail, deferred, delivered, dead-lettered. The shard host writes the turns' part of
the trace; the dispatcher writes these notes with the marks of the same round."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import orjson
from pydantic import ValidationError

from actors.errors import StoreUnavailableError
from actors.model.actions import Action, action_from_json
from actors.storage.store import OutboxEntry, StateStore


class DeliveryNotes:
    def __init__(
        self,
        store: StateStore,
        keep: int,
        ttl_s: int,
        clock: Callable[[], float],
        stats: Counter[str],
    ) -> None:
        self.store = store
        self.keep = keep
        self.ttl_s = ttl_s
        self.clock = clock
        self.stats = stats
        self._pending: list[tuple[int, str, bytes]] = []

    def note(self, entry: OutboxEntry, action: Action | None, what: str) -> None:
        """`action` is the parsed entry where the caller has it; only a dead letter's entry
        is read again here."""
        if self.keep <= 0:
            return
        if action is None:
            try:
                action = action_from_json(entry.action)
            except ValidationError:
                return  # not an action: nobody's trace
        if action.type == "decision":
            return  # the log's copy of a decision: the customer's timeline has the turn
        note = {"at": self.clock(), "action_id": action.action_id, "delivery": what}
        self._pending.append((entry.slot, action.customer_id, orjson.dumps(note)))

    async def write(self) -> None:
        notes, self._pending = self._pending, []
        if not notes:
            return
        try:
            await self.store.add_traces(notes, self.keep, self.ttl_s)
        except StoreUnavailableError:
            # The trace is an account of delivery, not part of it: the actions stand
            # whether or not their notes are written; the count shows what went missing.
            self.stats["trace_notes_lost"] += len(notes)
