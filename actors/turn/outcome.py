"""What one turn of a customer actor produced, handed to its host to commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.model.actions import Action, DecisionAction

UNKNOWN_REDELIVERY = (
    "redelivered after its id left the customer's kept ids: not applied, since it cannot"
    " be told whether it was (replay it if it was not)"
)


@dataclass(frozen=True, slots=True)
class RejectedAction:
    """An action a rule wanted but could not build (e.g. a template field is missing)."""

    rule_id: str
    customer_id: str
    trigger_event_id: str
    reason: str


@dataclass(slots=True)
class TurnOutcome:
    duplicate: bool = False
    # Why the event was not applied though not known as a duplicate (a redelivery the
    # kept ids cannot judge, actors.model.dedup): it is dead-lettered with this reason.
    refused: str | None = None
    actions: list[Action] = field(default_factory=list)
    # Records of the offer decisions the turn made or was told of, for the decision log
    # (actors.turn.decision_log): saved in the outbox with the actions.
    decisions: list[DecisionAction] = field(default_factory=list)
    rejected: list[RejectedAction] = field(default_factory=list)
    reminders_set: list[tuple[str, float]] = field(default_factory=list)
    reminders_cancelled: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    # Outcome counters to increment and guardrail facts to record, in the same commit.
    counters: list[str] = field(default_factory=list)
    guard: dict[str, str] = field(default_factory=dict)
    # Why the turn decided what it did, rule by rule, when its trigger has rules and the
    # actor keeps traces (`GET /v1/customers/{id}/timeline`).
    trace: dict[str, Any] | None = None

    @property
    def outbound(self) -> list[Action]:
        """Everything the turn hands to the outbox: its actions and decision records."""
        return [*self.actions, *self.decisions]
