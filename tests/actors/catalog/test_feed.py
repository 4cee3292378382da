"""The catalogue feed: records keyed by offer id put or retire offers, a batch at a time,
the position committed only once the batch is applied; bad records are refused with
their reason, the rest applied."""

from __future__ import annotations

import asyncio
import json

import pytest

from actors.brokers.stub import StubFeed
from actors.catalog.catalog import CatalogChange
from actors.catalog.feed import CatalogFeed, FeedRecord, Refused, read_batch
from actors.catalog.offer import CatalogOffer
from actors.catalog.store import Published
from actors.errors import StoreUnavailableError
from tests.eventually import eventually_async


def put(offer_id: str, value: float = 1.0, key: str | None = None) -> FeedRecord:
    body = {
        "offer_id": offer_id,
        "title": offer_id,
        "categories": ["crime"],
        "domain": "books",
        "value": value,
    }
    return FeedRecord((key or offer_id).encode(), json.dumps(body).encode(), f"t[0]@{offer_id}")


def retire(offer_id: str) -> FeedRecord:
    return FeedRecord(offer_id.encode(), None, f"t[0]@-{offer_id}")


def test_the_latest_record_of_an_offer_wins_within_a_batch() -> None:
    batch = read_batch([put("a", 1), put("b"), put("a", 3), retire("b"), retire("c"), put("c")])
    assert {k: o.value for k, o in batch.puts.items()} == {"a": 3, "c": 1}
    assert batch.retired == {"b"}
    assert batch.refused == []


def test_bad_records_are_refused_with_the_field_and_the_raw_value() -> None:
    batch = read_batch(
        [
            FeedRecord(None, b'{"offer_id": "x"}', "t[0]@1"),
            FeedRecord(b"y", b"not json", "t[0]@2"),
            put("z", value=-1),
            put("w", key="other"),
            put("ok"),
        ]
    )
    assert [(r.where, r.field) for r in batch.refused] == [
        ("t[0]@1", "key"),
        ("t[0]@2", "<json>"),
        ("t[0]@z", "value"),
        ("t[0]@w", "offer_id"),
    ]
    assert batch.refused[1].raw == "not json"
    assert list(batch.puts) == ["ok"]


class Store:
    def __init__(self) -> None:
        self.batches: list[tuple[list[str], set[str], str]] = []
        self.down = False

    def apply_feed(
        self, puts: list[CatalogOffer], retired: set[str], by: str, note: str = ""
    ) -> Published:
        if self.down:
            raise StoreUnavailableError("catalog", "Connection refused")
        self.batches.append(([o.offer_id for o in puts], retired, by))
        return Published(len(self.batches), CatalogChange())


def test_a_batch_is_applied_then_committed_and_refusals_reported() -> None:
    source, store = StubFeed(), Store()
    refused: list[Refused] = []
    feed = CatalogFeed(lambda: source, store, refused.append, "engage.catalog")
    source.records += [put("a"), retire("b"), put("w", key="other")]
    published = feed.step()
    assert published is not None
    assert store.batches == [(["a"], {"b"}, "feed:engage.catalog")]
    assert source.records == []  # committed
    assert [r.field for r in refused] == ["offer_id"]
    assert feed.status.to_dict() | {"applied_at": None} == {
        "records": 3,
        "refused": 1,
        "version": 1,
        "applied_at": None,
        "error": None,
    }
    assert feed.step() is None  # nothing new: no version


def test_a_store_outage_commits_nothing_and_the_batch_comes_again() -> None:
    source, store = StubFeed(), Store()
    feed = CatalogFeed(lambda: source, store, lambda _: None, "engage.catalog")
    source.records.append(put("a"))
    store.down = True
    with pytest.raises(StoreUnavailableError):
        feed.step()
    assert len(source.records) == 1
    store.down = False
    feed.step()
    assert store.batches == [(["a"], set(), "feed:engage.catalog")]
    assert source.records == []


def test_following_keeps_the_error_and_recovers_without_a_restart() -> None:
    source, store = StubFeed(), Store()
    feed = CatalogFeed(lambda: source, store, lambda _: None, "engage.catalog")
    source.records.append(put("a"))
    source.down = "broker unreachable"

    async def scenario() -> None:
        follow = asyncio.create_task(feed.follow(idle_s=0.01))

        async def failing() -> str | None:
            return feed.status.error

        async def applied() -> int:
            return len(store.batches)

        assert "broker unreachable" in await eventually_async(failing, 5, "the error kept")
        source.down = None
        await eventually_async(applied, 5, "the batch applied once the broker is back")
        follow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follow

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert store.batches == [(["a"], set(), "feed:engage.catalog")]
    assert feed.status.error is None
