"""Which events a customer has applied: what makes a redelivery, a replay or a producer's
second copy of an event a no-op.

Two records, each bounded whatever the customer's age, its merges or the broker's layout:

- **Marks**, per stream: the offset after the last event applied from one partition of
  one incarnation of the events topic (Kafka's topic id: a recreated or new topic, whose
  offsets start again, has streams of its own), for the customer's own records and,
  separately, for each visitor merged
  into it whose records are sent on to it (actors.model.identity). A stream is read in
  offset order and ingest applies one actor's events in that order, so an event read at
  an offset below its stream's mark was applied already (or refused): any replay the
  broker's retention allows (a redelivery after a crash, a consumer group reset to the
  earliest offset) is recognised with one dict lookup. At most MAX_MARKS streams are kept,
  the least recently advanced dropped first, so new partitions and merges cannot grow it.
  Marks are per stream, not per partition: after a shard outage, one visitor's records
  can reach the customer after a later record of another visitor in the same partition.
- **Ids** of the latest events applied, hashed to 8 bytes, each with its arrival second (4
  bytes): what recognises the same event sent twice by a producer (an SDK's retry, two
  sources of one event), events that come without a position (replays, tests), and
  redeliveries by a broker whose positions are not stable (RabbitMQ). The newest MIN_IDS
  are kept whatever their age, and of the rest those that arrived within WINDOW_S of the
  newest, at most MAX_IDS in all. A look-up is one `bytes.find` over at most MAX_IDS * 8
  bytes, whatever the customer's age.

A RabbitMQ redelivery (position REDELIVERED) whose id is not kept cannot be told from an
event never applied when ids were cut by MAX_IDS lately (`overflow_at` within WINDOW_S):
it is refused (`Seen.UNKNOWN`, dead-lettered with the reason) rather than risked twice.

The id of a client source's event is hashed apart from a server's (`dedup_key`): a
browser that reuses the id of a server's card payment cannot hide the payment.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Iterable
from enum import Enum
from typing import Any, NamedTuple

from actors.model.events import Event

NO_POSITION = -1
# A broker's redelivery of a record that has no stable position (RabbitMQ's redelivered
# flag): judged by its id alone, and refused when that cannot tell.
REDELIVERED = -2
_OFFSET_BITS = 48

MIN_IDS = 64
MAX_IDS = 1024
WINDOW_S = 24 * 3600
MAX_MARKS = 64

_ID = struct.Struct("=Q")
_STAMP = struct.Struct("=I")
_CLIENT = b"client\x00"


class Arrival(NamedTuple):
    """Where and when an event was read: its position (`pack_position`, NO_POSITION or
    REDELIVERED), the wall-clock second it was read (None: its own event time, as in a
    replay), and the visitor whose records it came with when it was sent on to the
    customer the visitor was merged into (None: the customer's own)."""

    position: int = NO_POSITION
    at: float | None = None
    origin: str | None = None


NO_ARRIVAL = Arrival()


class Seen(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    # A redelivery the kept ids cannot judge: refused, never applied twice.
    UNKNOWN = "unknown"


_PARTITION_BITS = 16


def pack_position(partition: int, offset: int, topic: int = 0) -> int:
    """A record's place as one int: the topic's incarnation (`topic`, a 32-bit tag of
    Kafka's topic id; 0 when the broker has none), the partition, the offset."""
    return (((topic << _PARTITION_BITS) | partition) << _OFFSET_BITS) | offset


def split_position(position: int) -> tuple[int, int, int]:
    """(topic tag, partition, offset) of a packed position."""
    offset = position & ((1 << _OFFSET_BITS) - 1)
    rest = position >> _OFFSET_BITS
    return rest >> _PARTITION_BITS, rest & ((1 << _PARTITION_BITS) - 1), offset


def key_hash(text: str, client: bool = False) -> int:
    """Stable 64-bit hash (Python's `hash` is salted per process, so unusable here)."""
    data = (_CLIENT + text.encode()) if client else text.encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def dedup_key(event: Event) -> int:
    """The key an event is deduplicated by: its id, scoped by its source's kind."""
    return key_hash(event.event_id, client=event.source == "client")


def _stamp(at: float) -> int:
    return min(max(int(at), 0), 0xFFFFFFFF)


# Stream names repeat across customers (a partition number, a visitor's stream).
_intern = sys.intern


def stream_of(topic: int, partition: int, origin: str | None) -> str:
    """The mark's name: a partition of one incarnation of the events topic, with the
    customer's own records or a visitor's. A topic recreated (or replaced by a new one)
    starts streams of its own: its offsets start again, and must not be taken for a
    replay of the old topic's."""
    name = f"{topic:08x}.{partition}" if topic else str(partition)
    return _intern(name if origin is None else f"{name}|{origin}")


class Applied:
    """The ids and marks of one customer (see the module docstring)."""

    __slots__ = ("ids", "marks", "overflow_at", "stamps")

    def __init__(self) -> None:
        self.ids = b""  # packed u64 hashes, oldest first
        self.stamps = b""  # packed u32 arrival seconds, aligned with `ids`
        self.marks: dict[str, int] = {}  # stream -> next offset, least recently advanced first
        # When ids that might still be redelivered were last cut by MAX_IDS.
        self.overflow_at: float | None = None

    def __len__(self) -> int:
        return len(self.ids) // _ID.size

    def copy(self) -> Applied:
        other = Applied()
        other.ids, other.stamps = self.ids, self.stamps
        other.marks = dict(self.marks)
        other.overflow_at = self.overflow_at
        return other

    def has(self, key: int) -> bool:
        needle = _ID.pack(key)
        start = self.ids.find(needle)
        while start != -1:
            if start % _ID.size == 0:
                return True
            start = self.ids.find(needle, start + 1)
        return False

    def seen(self, key: int, position: int, at: float, origin: str | None = None) -> Seen:
        """Whether the event keyed `key`, read at `position` from the stream of `origin`
        (None: the customer's own) and arriving at `at`, was applied."""
        if position >= 0:
            topic, partition, offset = split_position(position)
            mark = self.marks.get(stream_of(topic, partition, origin))
            if mark is not None and offset < mark:
                return Seen.DUPLICATE
        if self.has(key):
            return Seen.DUPLICATE
        if (
            position == REDELIVERED
            and self.overflow_at is not None
            and at - self.overflow_at < WINDOW_S
        ):
            return Seen.UNKNOWN
        return Seen.NEW

    def record(self, key: int, position: int, at: float, origin: str | None = None) -> None:
        if position >= 0:
            topic, partition, offset = split_position(position)
            stream = stream_of(topic, partition, origin)
            mark = self.marks.pop(stream, 0)  # re-inserted last: the latest advanced
            self.marks[stream] = max(mark, offset + 1)
            while len(self.marks) > MAX_MARKS:
                del self.marks[next(iter(self.marks))]
        self.ids += _ID.pack(key)
        self.stamps += _STAMP.pack(_stamp(at))
        self._trim(at)

    def _trim(self, at: float) -> None:
        count = len(self)
        drop = max(0, count - MAX_IDS)
        if drop:
            newest_cut = max(memoryview(self.stamps[: drop * _STAMP.size]).cast("I"))
            if at - newest_cut < WINDOW_S:
                self.overflow_at = float(max(newest_cut, _stamp(self.overflow_at or 0)))
        stamps = memoryview(self.stamps).cast("I")
        horizon = _stamp(at) - WINDOW_S
        while count - drop > MIN_IDS and stamps[drop] < horizon:
            drop += 1
        stamps.release()
        if drop:
            self.ids = self.ids[drop * _ID.size :]
            self.stamps = self.stamps[drop * _STAMP.size :]

    def merged(self, other: Applied) -> Applied:
        """Both customers' ids (by arrival, then bounded) and marks; `other` is a visitor
        merged in as `origin`'s streams by the caller (`as_visitor`)."""
        out = Applied()
        pairs = sorted(
            [*_pairs(self), *_pairs(other)], key=lambda pair: pair[1]
        )  # stable: equal stamps keep their order
        out.ids = b"".join(_ID.pack(k) for k, _ in pairs)
        out.stamps = b"".join(_STAMP.pack(s) for _, s in pairs)
        out.marks = dict(other.marks)
        for stream, mark in self.marks.items():
            out.marks.pop(stream, None)
            out.marks[stream] = max(mark, other.marks.get(stream, 0))
        while len(out.marks) > MAX_MARKS:
            del out.marks[next(iter(out.marks))]
        overflows = [t for t in (self.overflow_at, other.overflow_at) if t is not None]
        out.overflow_at = max(overflows) if overflows else None
        if pairs:
            out._trim(float(pairs[-1][1]))
        return out

    def as_visitor(self, origin: str) -> Applied:
        """This visitor's record as its customer keeps it: its own streams become the
        streams of `origin` (later records of it reach the customer sent on)."""
        out = self.copy()
        out.marks = {(s if "|" in s else f"{s}|{origin}"): m for s, m in self.marks.items()}
        return out

    # ---- saved form ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ids": list(memoryview(self.ids).cast("Q")),
            "stamps": list(memoryview(self.stamps).cast("I")),
        }
        if self.marks:
            data["marks"] = dict(self.marks)
        if self.overflow_at is not None:
            data["overflow_at"] = self.overflow_at
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Applied:
        out = cls()
        out.ids = b"".join(_ID.pack(v) for v in data.get("ids", ()))
        out.stamps = b"".join(_STAMP.pack(v) for v in data.get("stamps", ()))
        if len(out.ids) // _ID.size != len(out.stamps) // _STAMP.size:
            raise ValueError("applied ids and stamps differ in length")
        out.marks = {_intern(str(k)): int(v) for k, v in data.get("marks", {}).items()}
        overflow = data.get("overflow_at")
        out.overflow_at = float(overflow) if overflow is not None else None
        return out

    @classmethod
    def of(cls, keys: Iterable[int], stamp: float, marks: dict[str, int]) -> Applied:
        """Ids kept without arrival times (an older saved form), all stamped `stamp`."""
        out = cls()
        keys = list(keys)
        out.ids = b"".join(_ID.pack(k) for k in keys)
        out.stamps = _STAMP.pack(_stamp(stamp)) * len(keys)
        out.marks = {_intern(k): v for k, v in marks.items()}
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Applied):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _pairs(applied: Applied) -> list[tuple[int, int]]:
    return list(
        zip(memoryview(applied.ids).cast("Q"), memoryview(applied.stamps).cast("I"), strict=True)
    )
