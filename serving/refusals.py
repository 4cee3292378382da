"""Refused calls a site can see: counted by source and field, with a sample of each kept.

A Segment or RudderStack SDK reads only the status of a batch's answer, not the calls it
lists as refused, so a bad mapping on a site would otherwise lose events without a trace
anyone looks at. Every API replica records each refusal here (no I/O on the request
path) and its loop flushes them to Redis every few seconds, where every replica's add up:
counts per (source, field) since the start, and the latest refused payloads (at most
`MAX_SAMPLES`, each cut to `MAX_PAYLOAD_CHARS`) for a day. `/metrics`, the dashboard,
`GET /v1/reports/collect` and `engage report collect` read them.

Bounded whatever callers send: field names come from the payload (an unknown property is
named by the caller), so at most `MAX_KINDS` distinct (source, field) pairs are counted and
the rest fall under `<other>`; a flush Redis refuses is kept and tried again, its counts
merged with the next ones and its samples in a bounded queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from actors.storage.keys import Keys
from actors.storage.redis_clients import connect

log = logging.getLogger(__name__)

MAX_KINDS = 200
MAX_SAMPLES = 200
MAX_PAYLOAD_CHARS = 2000
SAMPLES_KEPT_S = 86_400.0
OTHER = "<other>"
# Counted with the refusals (so every replica's add up in Redis), reported apart: events
# from crawlers and headless agents, kept out of the stream (serving.screening).
BOT_FIELD = "<bot>"


@dataclass(frozen=True)
class Refusal:
    source: str  # the collection path: events, segment
    field: str
    reason: str


def kind_key(source: str, field_name: str) -> str:
    return f"{source}\t{field_name}"


@dataclass
class RefusalLog:
    """This replica's refusals not yet written to Redis."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    # Every (source, field) pair this replica has counted: the bound on distinct pairs.
    kinds: set[str] = field(default_factory=set)
    # This replica's counts since it started (what it reports without a store).
    seen: Counter[str] = field(default_factory=Counter)
    latest: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))

    def record(self, refusals: Sequence[Refusal], payload: Any, key_id: str) -> None:
        if not refusals:
            return
        for refusal in refusals:
            kind = self._kind(refusal)
            self.counts[kind] += 1
            self.seen[kind] += 1
        first = refusals[0]
        sample = {
            "at": time.time(),
            "source": first.source,
            "field": first.field[:200],
            "reason": first.reason[:500],
            "key": key_id,
            "payload": _cut(payload),
        }
        self.samples.append(sample)
        self.latest.append(sample)

    def bot(self, source: str) -> None:
        """An event from a crawler or headless agent, kept out: counted, not sampled (a
        crawl must not push the refused payloads a site owner needs out of the samples)."""
        key = kind_key(source, BOT_FIELD)
        self.counts[key] += 1
        self.seen[key] += 1

    def report(self) -> dict[str, Any]:
        """This replica's own refusals (where there is no store to gather every one's)."""
        return report(self.seen, list(self.latest))

    def _kind(self, refusal: Refusal) -> str:
        key = kind_key(refusal.source, refusal.field[:200])
        if key in self.kinds or len(self.kinds) < MAX_KINDS:
            self.kinds.add(key)
            return key
        return kind_key(refusal.source, OTHER)

    def take(self) -> tuple[Counter[str], list[dict[str, Any]]]:
        counts, samples = self.counts, list(self.samples)
        self.counts = Counter()
        self.samples.clear()
        return counts, samples

    def put_back(self, counts: Counter[str], samples: list[dict[str, Any]]) -> None:
        """A flush that failed: its refusals wait for the next one (samples bounded)."""
        self.counts.update(counts)
        self.samples.extendleft(reversed(samples))


def _cut(payload: Any) -> str:
    try:
        text = json.dumps(payload, default=repr)
    except (TypeError, ValueError):
        text = repr(payload)
    return text if len(text) <= MAX_PAYLOAD_CHARS else text[:MAX_PAYLOAD_CHARS] + "…"


class RefusalStore:
    """Every replica's refusals in Redis (blocking calls: run them in a thread)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.keys = Keys(prefix)

    def add(self, counts: Mapping[str, int], samples: Sequence[dict[str, Any]]) -> None:
        client = connect(self.url)
        try:
            pipe = client.pipeline(transaction=True)
            for kind, count in counts.items():
                pipe.hincrby(self.keys.refusals("counts"), kind, count)
            if samples:
                listed = self.keys.refusals("samples")
                pipe.lpush(listed, *(json.dumps(s) for s in samples))
                pipe.ltrim(listed, 0, MAX_SAMPLES - 1)
                pipe.expire(listed, int(SAMPLES_KEPT_S))
            pipe.execute()
        finally:
            client.close()

    def read(self, now: float | None = None) -> dict[str, Any]:
        """Counts per source and field (most first) and the day's samples, newest first."""
        client = connect(self.url)
        try:
            counts: dict[bytes, bytes] = client.hgetall(self.keys.refusals("counts"))  # type: ignore[assignment]
            raw: list[bytes] = client.lrange(self.keys.refusals("samples"), 0, -1)  # type: ignore[assignment]
        finally:
            client.close()
        return report(
            {k.decode(): int(v) for k, v in counts.items()}, [json.loads(s) for s in raw], now
        )


def report(
    counts: Mapping[str, int], samples: Sequence[dict[str, Any]], now: float | None = None
) -> dict[str, Any]:
    cutoff = (time.time() if now is None else now) - SAMPLES_KEPT_S
    rows: list[dict[str, Any]] = []
    bots: dict[str, int] = {}
    for kind, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        source, _, field_name = kind.partition("\t")
        if field_name == BOT_FIELD:
            bots[source] = count
        else:
            rows.append({"source": source, "field": field_name, "count": count})
    return {
        "total": sum(row["count"] for row in rows),
        "by_field": rows,
        "bots": bots,
        "samples": sorted(
            (s for s in samples if float(s.get("at", 0)) >= cutoff),
            key=lambda s: -float(s.get("at", 0)),
        ),
    }


async def flush_forever(log_: RefusalLog, store: RefusalStore, every_s: float = 5.0) -> None:
    """Write this replica's refusals to Redis every `every_s`, until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        await flush(log_, store)


async def flush(log_: RefusalLog, store: RefusalStore) -> bool:
    counts, samples = log_.take()
    if not counts and not samples:
        return True
    try:
        await asyncio.to_thread(store.add, counts, samples)
    except (RedisError, OSError) as error:
        # Kept, not dropped: the next flush writes them with its own.
        log_.put_back(counts, samples)
        log.warning("refused calls not written to Redis yet (kept for the next try): %s", error)
        return False
    return True


def format_report(refused: dict[str, Any], samples: int = 5) -> str:
    """The report as `engage report collect` prints it."""
    bots = refused.get("bots") or {}
    kept_out = (
        "events from crawlers and headless agents kept out: "
        + ", ".join(f"{source} {count:,}" for source, count in sorted(bots.items()))
        if bots
        else None
    )
    if not refused["by_field"]:
        return "no call refused" + (f"\n{kept_out}" if kept_out else "")
    lines = [f"{'source':<10} {'field':<40} {'refused':>9}"]
    for row in refused["by_field"]:
        lines.append(f"{row['source']:<10} {row['field'][:40]:<40} {row['count']:>9,}")
    lines.append(f"{'total':<51} {refused['total']:>9,}")
    if kept_out:
        lines.append(kept_out)
    shown = refused["samples"][:samples]
    if shown:
        lines.append("")
        lines.append(f"latest refused payloads ({len(shown)} of {len(refused['samples'])} kept):")
        for sample in shown:
            at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sample["at"]))
            lines.append(f"  {at} {sample['source']} {sample['field']}: {sample['reason']}")
            lines.append(f"    {sample['payload'][:300]}")
    return "\n".join(lines)
