"""The dead letters as an operator reads them back (`engage dlq`): each record with the
id its broker gives it, its raw value, the reason in its headers; and, for events, the
way back into the main stream.

Kafka's dead-letter topics keep every record at a stable (partition, offset); RabbitMQ's
dead-letter queues are read without taking anything off them, each record named by its
message id. The marks that say a record was replayed live in Redis (engage.dlq.marks),
not here: neither a topic nor a queue can be written in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, Protocol

DeadLetterKind = Literal["events", "actions"]
KINDS: tuple[DeadLetterKind, ...] = ("events", "actions")

# The header a replayed record carries into the main stream: which dead letter it was.
REPLAY_OF = "replay-of"


@dataclass(frozen=True)
class DeadLetter:
    kind: DeadLetterKind
    id: str  # "partition:offset" on Kafka; the message id on RabbitMQ
    value: bytes
    key: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # When the broker took the dead letter (its own clock), if it says.
    stored_at: float | None = None

    @property
    def reason(self) -> str:
        return self.headers.get("error-reason", "")

    @property
    def failed_at(self) -> float | None:
        """When engage gave up on the record (the `failed-at` header), else when stored."""
        try:
            return float(self.headers["failed-at"])
        except (KeyError, ValueError):
            return self.stored_at

    @property
    def truncated(self) -> bool:
        """Cut to fit the dead-letter topic (actors.brokers.dead_letters): not replayable."""
        return self.headers.get("truncated") == "true"

    @property
    def customer(self) -> str | None:
        """Whose record it is: the key (events), the `customer-id` header, or the action's
        own `customer_id` (actions carry no key)."""
        if self.key:
            return self.key.decode(errors="replace")
        if "customer-id" in self.headers:
            return self.headers["customer-id"]
        try:
            body = json.loads(self.value)
        except ValueError:
            return None
        owner = body.get("customer_id") if isinstance(body, dict) else None
        return owner if isinstance(owner, str) else None

    @property
    def replays(self) -> str:
        """The dead letter it was a replay of, if it was (a replay that failed again)."""
        return self.headers.get(REPLAY_OF, "")


class DeadLetterLog(Protocol):
    """One kind of dead letters on one broker."""

    kind: DeadLetterKind

    @property
    def where(self) -> str:
        """The topic or queue, for messages."""
        ...

    def read(self, limit: int, timeout_s: float = 30.0) -> list[DeadLetter]:
        """The oldest `limit` dead letters the broker keeps, oldest first, leaving them
        there. Raises BrokerUnavailableError when the broker does not answer."""
        ...

    def republish_event(self, letter: DeadLetter, timeout_s: float = 10.0) -> None:
        """An events dead letter back onto the events stream as it was (its key, its raw
        value) with a `replay-of` header naming it; on the broker when this returns.
        Raises BrokerUnavailableError when it may not be."""
        ...
