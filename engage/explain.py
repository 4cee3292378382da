"""`engage explain CUSTOMER`: what a customer's latest turns decided, and why.

Reads the decision traces the customer's shard saved with each turn (actors.hosting.host, kept
newest first in Redis) and prints them oldest first, one block per turn: the trigger and
its time, each rule of the trigger with what it did (fired, and the action) or why not,
and the scores and model versions the turn used; and a line for what became of each
action (delivered, deferred, held by a guardrail, dead-lettered).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from actors.storage.redis_store import RedisStateStore
from actors.storage.slots import slot_of
from engage.settings import Settings


def read(settings: Settings, customer_id: str, limit: int) -> list[dict[str, Any]]:
    """The customer's latest traces, oldest first."""

    async def body() -> list[bytes]:
        store = RedisStateStore(settings.redis.require_url(), settings.redis.prefix)
        try:
            slot = slot_of(customer_id, settings.actors.slots)
            return await store.trace_of(slot, customer_id, limit)
        finally:
            await store.close()

    return [json.loads(row) for row in reversed(asyncio.run(body()))]


def format_turns(turns: list[dict[str, Any]]) -> str:
    lines = []
    for turn in turns:
        when = datetime.fromtimestamp(turn["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        if "delivery" in turn:  # what became of an action, from the dispatcher
            lines.append(f"{when}  action {turn['action_id']}: {turn['delivery']}")
            continue
        lines.append(f"{when}  {turn['trigger']}  ({turn['trigger_id']})")
        for rule_id, verdict in sorted(turn["rules"].items()):
            lines.append(f"  {rule_id}: {verdict}")
        if turn.get("scores"):
            scores = "  ".join(f"{k}={v:g}" for k, v in sorted(turn["scores"].items()))
            models = "  ".join(f"{k} v{v}" for k, v in sorted(turn.get("models", {}).items()))
            lines.append(f"  scores: {scores}   models: {models}")
    return "\n".join(lines)
