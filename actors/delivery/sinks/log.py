"""Writes each action as one JSON log line: for development and audits."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from actors.delivery.sinks.base import Delivery
from actors.model.actions import Action

log = logging.getLogger("engage.actions")


class LogSink:
    name = "log"

    def __init__(self) -> None:
        self.kept: list[Action] = []
        self.keep = False

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        for action in actions:
            log.info(
                "action",
                extra={
                    "customer_id": action.customer_id,
                    "action": action.model_dump(mode="json"),
                },
            )
            if self.keep:
                self.kept.append(action)
        return [Delivery.delivered() for _ in actions]

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        return set()  # cannot tell; receivers dedup on the idempotency key

    async def close(self) -> None:
        return None
