"""The HTTP API's events onto the event broker, acknowledged only once the broker has them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from actors.brokers.base import EventPublisher
from actors.errors import BrokerUnavailableError, EngageError
from actors.model.events import Event, event_to_json


class PublishError(EngageError):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class BrokerEvents:
    """Events of the API's routes (serving.web.backends.EventSink) through the broker's
    publisher, off the event loop: a publish waits for the broker's acknowledgement."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, events: Sequence[Event], timeout_s: float = 10.0) -> None:
        """Raises PublishError when any event is not on the broker."""
        if not events:
            return
        pairs = [(event.actor_id, event_to_json(event)) for event in events]
        try:
            await asyncio.to_thread(self._publisher.publish, pairs, timeout_s)
        except BrokerUnavailableError as error:
            raise PublishError(f"{error.address}: {error.cause}") from error

    def close(self) -> None:
        self._publisher.close()
