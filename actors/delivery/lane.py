"""A sink's lane in the dispatcher: its own backlog of actions to deliver and of actions to
look up at the sink first, each worked by its own task. A slow e-mail server holds back
e-mails only, and a slow look-up holds back only the actions being looked up: fraud
alerts on the actions topic keep their latency."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from actors.delivery.sinks.base import Sink
from actors.model.actions import Action
from actors.storage.store import OutboxEntry

log = logging.getLogger(__name__)

Batch = list[tuple[OutboxEntry, Action]]


@dataclass(eq=False)
class Lane:
    name: str
    sink: Sink
    deliveries: deque[tuple[OutboxEntry, Action]] = field(default_factory=deque)
    lookups: deque[tuple[OutboxEntry, Action]] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    lookup_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Look-ups that failed in a row: the next waits longer.
    lookup_failures: int = 0
    last_lookup_error: str | None = None

    @property
    def backlog(self) -> int:
        return len(self.deliveries) + len(self.lookups)

    def batch_size(self, most: int) -> int:
        """Actions per delivery call: the sink's own size where it has one (an SMTP
        session, a webhook's request), at most `most`."""
        return min(most, getattr(self.sink, "batch_size", most))

    def drop(self, doomed: Callable[[OutboxEntry], bool]) -> list[OutboxEntry]:
        """Take out the backlog's entries `doomed` picks; returns them."""
        dropped: list[OutboxEntry] = []
        for backlog in (self.deliveries, self.lookups):
            dropped += [e for e, _ in backlog if doomed(e)]
            kept = [(e, a) for e, a in backlog if not doomed(e)]
            backlog.clear()
            backlog.extend(kept)
        return dropped


async def work_backlog(
    backlog: deque[tuple[OutboxEntry, Action]],
    ready: asyncio.Event,
    size: int,
    handle: Callable[[Batch], Awaitable[None]],
    crashed: Callable[[Batch], None],
) -> None:
    """Hand `backlog` to `handle` in batches of `size` whenever `ready` is set (runs until
    cancelled). A batch whose handling raises goes to `crashed` (a fault of the code: the
    entries stay in the outbox) and the rest go on."""
    while True:
        await ready.wait()
        ready.clear()
        while backlog:
            batch = [backlog.popleft() for _ in range(min(size, len(backlog)))]
            try:
                await handle(batch)
            except Exception:
                log.exception("a lane's batch crashed; retrying later")
                crashed(batch)
