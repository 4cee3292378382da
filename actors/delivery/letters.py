"""Where an action that cannot be delivered goes: its dead letter, with the reason.

The brokers implement `DeadLetters` (actors.brokers.dead_letters for Kafka,
actors.brokers.amqp for RabbitMQ); `MemoryDeadLetters` is for tests. An action a rule
could not build is saved in the outbox as a rejection entry, so that its dead letter
survives a crash like any action.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from actors.model.actions import idempotency_key
from actors.turn.outcome import RejectedAction

REJECTED_PREFIX = "dlq."


class DeadLetters(Protocol):
    """Raises OutageError when the dead letter cannot be written: the action stays in
    the outbox, and is dead-lettered again later."""

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None: ...


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[bytes, str, str]] = []

    async def action_failed(self, raw: bytes, reason: str, sink: str) -> None:
        self.letters.append((raw, reason, sink))


def rejection_entry(rejected: RejectedAction) -> tuple[str, bytes]:
    """An action a rule could not build, as the outbox keeps it; the dispatcher sends it
    straight to the dead letters."""
    key = idempotency_key(rejected.customer_id, rejected.rule_id, rejected.trigger_event_id)
    body = {
        "rejected_action": {
            "rule_id": rejected.rule_id,
            "customer_id": rejected.customer_id,
            "trigger_event_id": rejected.trigger_event_id,
        },
        "reason": rejected.reason,
    }
    return REJECTED_PREFIX + key, orjson.dumps(body)
