"""Failed delivery attempts of the dispatcher's actions: each counted for its own action,
retried after an exponential backoff with jitter, and given up to the dead letters when
it cannot succeed or ran out of attempts. A dead-lettered action is remembered as buried
until the outbox is cleared of it, so no later offer dead-letters it again."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from actors.delivery.letters import REJECTED_PREFIX, DeadLetters
from actors.delivery.notes import DeliveryNotes
from actors.errors import OutageError
from actors.model.actions import Action
from actors.storage.store import OutboxEntry

# How long, in base backoffs, an entry waits when its dead letter cannot be written yet
# (the dead-letter topic is out of reach): owed, not another attempt.
OWED_PAUSE = 4


class Attempts:
    def __init__(
        self,
        dead_letters: DeadLetters,
        max_attempts: int,
        base_backoff_s: float,
        wait: Callable[[OutboxEntry, float], None],
        notes: DeliveryNotes,
        stats: Counter[str],
    ) -> None:
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.wait = wait
        self.notes = notes
        self.stats = stats
        self.counts: Counter[str] = Counter()
        # Dead-lettered, not yet cleared from the outbox (Redis failed meanwhile): never
        # dead-lettered again.
        self.buried: set[str] = set()

    def release(self, key: str) -> None:
        """The action is finished or no longer this dispatcher's."""
        self.counts.pop(key, None)
        self.buried.discard(key)

    async def failed(self, entry: OutboxEntry, reason: str, sink: str) -> bool:
        """Count a failed attempt: wait and retry, or dead-letter when out of attempts.
        Returns whether the entry is finished (dead-lettered)."""
        self.counts[entry.key] += 1
        if self.counts[entry.key] >= self.max_attempts:
            await self.give_up(entry, f"{reason} (after {self.max_attempts} attempts)", sink)
            return True
        self.stats["retries"] += 1
        backoff = self.base_backoff_s * 2 ** (self.counts[entry.key] - 1)
        self.wait(entry, backoff * random.uniform(0.5, 1.5))
        return False

    async def settle_failed(self, entry: OutboxEntry, reason: str, sink: str) -> bool:
        """`failed` in a lane: a dead-letter topic out of reach leaves the entry waiting
        (in the outbox) instead of failing the lane's batch."""
        try:
            return await self.failed(entry, reason, sink)
        except OutageError:
            self.counts[entry.key] -= 1  # the dead letter is owed, not another attempt
            self.wait(entry, self.base_backoff_s * OWED_PAUSE)
            return False

    async def settle_give_up(
        self, entry: OutboxEntry, reason: str, sink: str, action: Action
    ) -> bool:
        """`give_up` in a lane; whether the entry is finished."""
        try:
            await self.give_up(entry, reason, sink, action)
        except OutageError:
            self.wait(entry, self.base_backoff_s * OWED_PAUSE)
            return False
        return True

    async def give_up(
        self, entry: OutboxEntry, reason: str, sink: str, action: Action | None = None
    ) -> None:
        await self.dead_letters.action_failed(entry.action, reason, sink)
        self.buried.add(entry.key)
        self.stats["dead_lettered"] += 1
        if not entry.key.startswith(REJECTED_PREFIX):
            self.notes.note(entry, action, f"dead-lettered: {reason}")
