"""The HTTP API's events onto the event broker, acknowledged only once the broker has them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from actors.brokers.base import EventPublisher
from actors.errors import BrokerUnavailableError, EngageError
from actors.model.events import Event, event_to_json


class PublishError(EngageError):
    def __init__(self, reason: str) -> None:
        self.reason = reason


# Publishes waiting for the broker's acknowledgement at once. A waiting publish holds a
# thread and little else: on a pool of their own they never starve the default pool the
# other routes' blocking calls run on (six threads on two cores), so a slow broker slows
# publishing routes only.
PUBLISH_THREADS = 32


class BrokerEvents:
    """Events of the API's routes (serving.web.backends.EventSink) through the broker's
    publisher, off the event loop: a publish waits for the broker's acknowledgement."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher
        self._pool = ThreadPoolExecutor(PUBLISH_THREADS, thread_name_prefix="engage-publish")

    async def publish(self, events: Sequence[Event], timeout_s: float = 10.0) -> None:
        """Raises PublishError when any event is not on the broker."""
        if not events:
            return
        pairs = [(event.actor_id, event_to_json(event)) for event in events]
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self._publisher.publish, pairs, timeout_s)
        except BrokerUnavailableError as error:
            raise PublishError(f"{error.address}: {error.cause}") from error

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._publisher.close()
