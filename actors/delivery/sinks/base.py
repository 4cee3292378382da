"""The sink contract.

The outbox dispatcher calls `deliver` with a batch of actions for this sink, after the
state that produced them is saved and after the idempotency check. A sink answers one
`Delivery` per action; it never raises for a single bad action. `retryable=False` means
trying again cannot help (a template the receiver rejects, a 4xx), so the action goes to
the dead-letter topic at once; retryable failures are tried again with backoff first, and
count against the action's attempts. `waiting` is an outage, not the action's fault (the
broker is down, or an earlier send of this action is still in flight): tried again
later without counting an attempt, never dead-lettered for it. `unsure` is a send that
ended without an answer and may have reached the receiver: the dispatcher asks the sink
(`delivered`) before it sends the action again, never resends it blind.
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
    unsure: bool = False  # may have been delivered: looked up before any resend

    @classmethod
    def delivered(cls) -> Delivery:
        return cls(True)

    @classmethod
    def failed(cls, reason: str, retryable: bool = True) -> Delivery:
        return cls(False, reason, retryable)

    @classmethod
    def waiting(cls, reason: str) -> Delivery:
        return cls(False, reason, retryable=True, counts=False)

    @classmethod
    def maybe(cls, reason: str) -> Delivery:
        """The send ended without an answer: it may have been delivered."""
        return cls(False, reason, retryable=True, counts=False, unsure=True)


class Sink(Protocol):
    name: str
    # Optional (`batch_size`): the most actions the dispatcher hands it at once. A sink
    # that cannot tell what it has (`delivered` answers the empty set) keeps it small:
    # what is in flight when a process dies may be delivered twice.

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]: ...

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        """Which of these idempotency keys the sink already has, looking back to `since`.

        Asked only about actions whose delivery may have reached the sink (it began in a
        process that then died, or a send ended without an answer), so that they are not
        sent twice; asked from a task of its own, so a slow look-up holds back no other
        action. Raises (any error) when it cannot tell now: asked again later, never
        sent blind. A sink that cannot tell at all answers the empty set (and its
        receivers dedup on the idempotency key it sends).
        """
        ...

    async def close(self) -> None: ...
