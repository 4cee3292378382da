"""Refused calls, counted and sampled per replica and gathered in Redis: bounded whatever
callers send, and kept through a Redis outage."""

from __future__ import annotations

import asyncio
import time

import pytest

from engage.processes import free_port
from serving.refusals import (
    MAX_KINDS,
    MAX_PAYLOAD_CHARS,
    MAX_SAMPLES,
    SAMPLES_KEPT_S,
    Refusal,
    RefusalLog,
    RefusalStore,
    flush,
    format_report,
    report,
)


def refuse(log: RefusalLog, field: str, payload: object = None, source: str = "segment") -> None:
    log.record([Refusal(source, field, f"{field} is wrong")], payload or {"f": field}, "key1")


def test_each_refusal_is_counted_by_source_and_field_with_its_payload_sampled() -> None:
    log = RefusalLog()
    refuse(log, "properties.price")
    refuse(log, "properties.price")
    refuse(log, "timestamp", source="events")
    counted = log.report()
    assert counted["total"] == 3
    assert counted["by_field"][0] == {"source": "segment", "field": "properties.price", "count": 2}
    assert counted["samples"][0]["field"] == "timestamp"  # newest first
    assert counted["samples"][0]["key"] == "key1"


def test_invented_field_names_cannot_grow_the_counts_past_their_bound() -> None:
    log = RefusalLog()
    for n in range(MAX_KINDS + 50):
        refuse(log, f"properties.made_up_{n}")
    counted = log.report()
    assert len(counted["by_field"]) == MAX_KINDS + 1
    assert {"source": "segment", "field": "<other>", "count": 50} in counted["by_field"]
    assert counted["total"] == MAX_KINDS + 50


def test_samples_are_bounded_in_number_and_size() -> None:
    log = RefusalLog()
    for n in range(MAX_SAMPLES + 10):
        refuse(log, "x", {"n": n, "blob": "y" * (MAX_PAYLOAD_CHARS * 2)})
    samples = log.report()["samples"]
    assert len(samples) == MAX_SAMPLES
    assert all(len(s["payload"]) <= MAX_PAYLOAD_CHARS + 1 for s in samples)


def test_samples_older_than_a_day_are_not_reported() -> None:
    now = time.time()
    old = {"at": now - SAMPLES_KEPT_S - 1, "source": "segment"}
    fresh = {"at": now - 10, "source": "segment"}
    assert report({}, [old, fresh], now)["samples"] == [fresh]


@pytest.mark.integration
def test_every_replicas_refusals_add_up_in_redis(redis_url: str, prefix: str) -> None:
    store = RefusalStore(redis_url, prefix)
    first, second = RefusalLog(), RefusalLog()
    refuse(first, "properties.price")
    refuse(second, "properties.price")
    refuse(second, "userId")
    assert asyncio.run(flush(first, store))
    assert asyncio.run(flush(second, store))
    gathered = store.read()
    assert gathered["total"] == 3
    assert gathered["by_field"][0]["count"] == 2
    assert len(gathered["samples"]) == 3
    assert "properties.price" in format_report(gathered)
    # Flushed means taken: a second flush writes nothing twice.
    assert asyncio.run(flush(first, store))
    assert store.read()["total"] == 3


@pytest.mark.integration
def test_refusals_redis_refuses_are_kept_and_written_by_the_next_flush(
    redis_url: str, prefix: str
) -> None:
    store = RefusalStore(f"redis://127.0.0.1:{free_port()}/0", prefix)  # nothing listens
    log = RefusalLog()
    refuse(log, "properties.price")
    assert not asyncio.run(flush(log, store))
    refuse(log, "properties.price")
    store.url = redis_url  # Redis is back
    assert asyncio.run(flush(log, store))
    gathered = store.read()
    assert gathered["total"] == 2
    assert len(gathered["samples"]) == 2
