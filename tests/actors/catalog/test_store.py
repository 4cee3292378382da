"""The catalogue's versions in a real Redis: loads, edits, rollback, audit; and a follower
serving each version and keeping the last one through an outage."""

from __future__ import annotations

import os
import signal

import pytest
import redis

from actors.catalog.follower import CatalogFollower
from actors.catalog.offer import CatalogOffer
from actors.catalog.store import (
    KEEP_VERSIONS,
    CatalogStore,
    NoPreviousVersionError,
    UnknownOfferError,
)
from actors.storage.keys import Keys
from engage.processes import ServerProcess

pytestmark = pytest.mark.integration


def offer(offer_id: str, value: float = 1.0) -> CatalogOffer:
    return CatalogOffer(
        offer_id=offer_id, title=offer_id, categories=("x",), domain="shop", value=value
    )


@pytest.fixture
def store(redis_url: str, prefix: str) -> CatalogStore:
    return CatalogStore.connect(redis_url, prefix)  # with the deadlines processes use


def test_a_load_is_a_version_and_the_same_load_again_is_none(store: CatalogStore) -> None:
    assert store.current_version() == 0
    first = store.publish([offer("a"), offer("b")], by="ops")
    assert first.version == 1
    assert first.change.added == ("a", "b")
    assert store.publish([offer("a"), offer("b")], by="ops").version == 1
    second = store.publish([offer("a", 2.0), offer("c")], by="ops")
    assert (second.change.added, second.change.changed, second.change.removed) == (
        ("c",),
        ("a",),
        ("b",),
    )
    assert [o.offer_id for o in store.current().offers] == ["a", "c"]


def test_one_offer_put_and_deleted_and_a_rollback(store: CatalogStore) -> None:
    store.publish([offer("a")], by="ops")
    store.put_offer(offer("b"), by="admin-key")
    store.put_offer(offer("a", 5.0), by="admin-key")
    assert {o.offer_id: o.value for o in store.current().offers} == {"a": 5.0, "b": 1.0}
    store.delete_offer("b", by="admin-key")
    with pytest.raises(UnknownOfferError):
        store.delete_offer("b", by="admin-key")
    back = store.rollback(by="ops")
    assert back.change.added == ("b",)
    assert {o.offer_id for o in store.current().offers} == {"a", "b"}
    audit = store.audit()
    assert [(e["action"], e["by"]) for e in audit] == [
        ("rollback", "ops"),
        ("delete", "admin-key"),
        ("put", "admin-key"),
        ("put", "admin-key"),
        ("load", "ops"),
    ]
    assert audit[1]["removed"] == ["b"]


def test_rollback_without_an_earlier_version_is_refused(store: CatalogStore) -> None:
    with pytest.raises(NoPreviousVersionError):
        store.rollback(by="ops")
    store.publish([offer("a")], by="ops")
    with pytest.raises(NoPreviousVersionError):
        store.rollback(by="ops")


def test_only_the_kept_versions_stay_in_redis(
    store: CatalogStore, redis_url: str, prefix: str
) -> None:
    for n in range(KEEP_VERSIONS + 5):
        store.publish([offer("a", float(n))], by="ops")
    client = redis.Redis.from_url(redis_url)
    kept = client.keys(Keys(prefix).catalog("v:*"))
    assert len(kept) == KEEP_VERSIONS
    for _ in range(KEEP_VERSIONS - 1):
        store.rollback(by="ops")
    assert store.current_version() == 6


def test_a_follower_serves_each_version_and_keeps_its_own_through_an_outage(
    store: CatalogStore, redis_server: ServerProcess
) -> None:
    follower = CatalogFollower(store)
    assert follower.refresh() is False  # nothing loaded: the built-in offers, version 0
    assert follower.catalog.version == 0
    assert len(follower.catalog.offers) == 15
    store.publish([offer("a")], by="ops")
    assert follower.refresh() is True
    assert [o.offer_id for o in follower.catalog.offers] == ["a"]
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        assert follower.refresh() is False
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert follower.error is not None
    assert follower.catalog.version == 1
    assert follower.refresh() is False
    assert follower.error is None


def test_a_feed_batch_is_one_version_and_the_same_batch_again_is_none(
    store: CatalogStore,
) -> None:
    store.publish([offer("a"), offer("b")], by="ops")
    applied = store.apply_feed([offer("b", 2.0), offer("c")], {"a", "never_sent"}, by="feed:x")
    assert [(o.offer_id, o.value) for o in store.current().offers] == [("b", 2.0), ("c", 1.0)]
    # Read again after a crash before the feed's commit: nothing changes twice.
    again = store.apply_feed([offer("b", 2.0), offer("c")], {"a", "never_sent"}, by="feed:x")
    assert again.version == applied.version
    (entry, *_) = store.audit()
    assert (entry["action"], entry["by"]) == ("feed", "feed:x")
