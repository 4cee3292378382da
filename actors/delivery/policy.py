"""What the dispatcher asks before an action goes out, and the verdicts it may get.

actors.delivery.guardrails implements the policy (consent, caps, quiet hours, holdouts,
fraud suppression); `AllowAll` is for tests and deployments without guardrails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from actors.model.actions import Action


@dataclass(frozen=True, slots=True)
class Decision:
    # reject: the action cannot be judged (bad data of its own); it is dead-lettered.
    verdict: Literal["deliver", "defer", "suppress", "holdout", "reject"]
    reason: str = ""
    until: float = 0.0


DELIVER = Decision("deliver")


class ActionPolicy(Protocol):
    """Guardrails consulted before delivery (see actors.delivery.guardrails)."""

    async def decide(self, actions: Sequence[Action]) -> list[Decision]: ...

    async def delivered(self, actions: Sequence[Action]) -> None:
        """Called after delivery, to count the actions against frequency caps."""
        ...


class AllowAll:
    async def decide(self, actions: Sequence[Action]) -> list[Decision]:
        return [DELIVER for _ in actions]

    async def delivered(self, actions: Sequence[Action]) -> None:
        return None
