"""The sink contract.

The outbox dispatcher calls `deliver` with a batch of actions for this sink, after the
state that produced them is saved and after the idempotency check. A sink answers one
`Delivery` per action; it never raises for a single bad action. `retryable=False` means
trying again cannot help (a template the receiver rejects, a 4xx), so the action goes to
the dead-letter topic at once; retryable failures are tried again with backoff first, and
count against the action's attempts. `waiting` is an outage, not the action's fault (the
broker is down, or an earlier send of this action is still in flight): tried again
later without counting an attempt, never dead-lettered for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from actors.model.actions import Action


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    reason: str = ""
    retryable: bool = True
    counts: bool = True  # whether the failure uses up one of the action's attempts

    @classmethod
    def delivered(cls) -> Delivery:
        return cls(True)

    @classmethod
    def failed(cls, reason: str, retryable: bool = True) -> Delivery:
        return cls(False, reason, retryable)

    @classmethod
    def waiting(cls, reason: str) -> Delivery:
        return cls(False, reason, retryable=True, counts=False)


class Sink(Protocol):
    name: str

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]: ...

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        """Which of these idempotency keys the sink already has, looking back to `since`.

        Asked only about actions whose delivery began in a process that then died, so
        that they are not sent twice. A sink that cannot tell answers the empty set (and
        its receivers dedup on the idempotency key it sends).
        """
        ...

    async def close(self) -> None: ...
