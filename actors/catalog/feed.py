"""The catalogue feed: offers kept current by a stream, as Braze Catalogs or a product
feed would be, besides files and the HTTP API.

A team writes each offer as a record keyed by its offer id: the offer's JSON (the fields
of docs/catalog.md) puts it, an empty value (Kafka's tombstone) retires it. On Kafka the
topic is `engage.catalog`, compacted, so it always holds the latest record of every
offer; on RabbitMQ, the `engage.catalog` exchange and queue (one consumer at a time).

One API replica at a time follows the feed (the consumer group, or the queue's single
active consumer): it reads what arrived, applies it as one catalogue version (the
store's `apply_feed`, audited as `feed`), and only then commits its position. A crash
between the two reads the batch again, which changes nothing twice. A record that is not
a valid offer is refused with its reason and raw value (where refused collection calls
are counted, `engage report collect`), and the rest of its batch is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from actors.catalog.offer import CatalogOffer
from actors.catalog.store import Published
from actors.errors import EngageError

log = logging.getLogger(__name__)

FEED_BY = "feed"
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class FeedRecord:
    key: bytes | None
    value: bytes | None
    where: str  # topic[partition]@offset, or the queue's delivery: for a refusal's sample


class FeedConsumer(Protocol):
    def poll(self, timeout_s: float) -> list[FeedRecord]:
        """What arrived since the last commit, in order; raises BrokerUnavailableError."""
        ...

    def commit(self) -> None:
        """Every record polled so far is applied: the broker may forget them."""
        ...

    def close(self) -> None: ...


class FeedStore(Protocol):
    def apply_feed(
        self, puts: list[CatalogOffer], retired: set[str], by: str, note: str = ""
    ) -> Published: ...


@dataclass(frozen=True, slots=True)
class Refused:
    where: str
    field: str
    reason: str
    raw: str


@dataclass(slots=True)
class FeedBatch:
    puts: dict[str, CatalogOffer] = field(default_factory=dict)
    retired: set[str] = field(default_factory=set)
    refused: list[Refused] = field(default_factory=list)


def read_batch(records: Sequence[FeedRecord]) -> FeedBatch:
    """The changes `records` make, the latest record of an offer winning."""
    batch = FeedBatch()
    for record in records:
        raw = (record.value or b"").decode("utf-8", "replace")
        key = (record.key or b"").decode("utf-8", "replace")
        if not key:
            batch.refused.append(Refused(record.where, "key", "no key: the offer id", raw))
            continue
        if not record.value:
            batch.puts.pop(key, None)
            batch.retired.add(key)
            continue
        try:
            offer = CatalogOffer.model_validate(json.loads(record.value))
        except (ValueError, ValidationError) as error:
            batch.refused.append(Refused(record.where, *_fault(error), raw))
            continue
        if offer.offer_id != key:
            reason = f"the record's key is {key!r}, its offer_id {offer.offer_id!r}"
            batch.refused.append(Refused(record.where, "offer_id", reason, raw))
            continue
        batch.retired.discard(key)
        batch.puts[key] = offer
    return batch


def _fault(error: ValueError | ValidationError) -> tuple[str, str]:
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        return ".".join(str(p) for p in first["loc"]) or "<root>", first["msg"]
    return "<json>", str(error)


@dataclass
class FeedStatus:
    records: int = 0
    refused: int = 0
    version: int | None = None
    applied_at: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class CatalogFeed:
    """Follows a feed into the catalogue store (blocking steps, run off the loop)."""

    def __init__(
        self,
        consumer: Callable[[], FeedConsumer],
        store: FeedStore,
        on_refused: Callable[[Refused], None],
        name: str,
    ) -> None:
        self._make = consumer
        self._consumer: FeedConsumer | None = None
        self._store = store
        self._on_refused = on_refused
        self.name = name
        self.status = FeedStatus()

    def step(self, timeout_s: float = 1.0) -> Published | None:
        """Read what arrived and apply it; the position moves only once it is applied.
        Raises (the broker or the store out of reach): the records come again."""
        if self._consumer is None:
            self._consumer = self._make()
        records = self._consumer.poll(timeout_s)
        if not records:
            return None
        batch = read_batch(records)
        published = None
        if batch.puts or batch.retired:
            published = self._store.apply_feed(
                list(batch.puts.values()), batch.retired, f"{FEED_BY}:{self.name}"
            )
            self.status.version = published.version
        for refused in batch.refused:
            self._on_refused(refused)
        self._consumer.commit()
        self.status.records += len(records)
        self.status.refused += len(batch.refused)
        self.status.applied_at = time.time()
        self.status.error = None
        return published

    async def follow(self, idle_s: float = 0.2) -> None:
        """Step until cancelled. A failure is kept in `status.error` (the catalogue
        endpoint shows it) and retried with a growing wait, up to 30 s; the consumer is
        made anew, so a broker that restarted is found again."""
        failures = 0
        try:
            while True:
                try:
                    await asyncio.to_thread(self.step)
                    failures = 0
                except (EngageError, OSError) as error:
                    failures += 1
                    self.status.error = f"{type(error).__name__}: {error}"
                    log.warning("catalogue feed %s: %s", self.name, self.status.error)
                    self._reset()
                    await asyncio.sleep(min(MAX_BACKOFF_S, 0.5 * 2**failures))
                    continue
                await asyncio.sleep(idle_s)
        finally:
            self._reset()

    def _reset(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):  # closing a broken client: nothing to save
                self._consumer.close()
            self._consumer = None
