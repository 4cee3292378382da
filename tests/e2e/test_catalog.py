"""A bookshop brings its own catalogue to a running engage: 5,000 offers in a taxonomy
engage has never seen, served by the API and the shards; an offer added while traffic
flows, expired and inactive offers never served, and a rollback everywhere."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from actors.catalog.catalog import DEMO_FILE
from actors.catalog.offer import CatalogOffer
from actors.catalog.parsing import read_catalog_file
from actors.catalog.store import CatalogStore
from actors.hosting.router import ShardRouter
from tests.conftest import ADMIN_TOKEN, App
from tests.e2e.test_customers import actions_for
from tests.eventually import eventually
from tests.kafka_support import produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

# A bookshop's own taxonomy: none of these is one of engage's built-in affinity keys.
SHELVES = [
    "crime", "cookery", "poetry", "fantasy", "history", "travel-writing", "graphic-novels",
    "philosophy", "gardening", "true-crime", "romance", "science", "biography", "horror",
    "languages", "art", "music", "drama-plays", "local-history", "maps",
]  # fmt: skip
PER_SHELF = 250  # 20 shelves x 250 = 5,000 offers


def bookshop() -> list[CatalogOffer]:
    offers = [
        CatalogOffer(
            offer_id=f"{shelf}-{n:04d}",
            title=f"{shelf.replace('-', ' ').title()} pick {n}",
            categories=(shelf, "books"),
            domain="bookshop",
            value=10.0,
            price=8.99 + n % 20,
        )
        for shelf in SHELVES
        for n in range(PER_SHELF)
    ]
    # Worth a hundred times more than any other: served, either would win every ranking.
    offers.append(
        CatalogOffer(
            offer_id="crime-expired",
            title="Last week's crime sale",
            categories=("crime",),
            domain="bookshop",
            value=1000.0,
            ends_at="2026-01-01T00:00:00Z",
        )
    )
    offers.append(
        CatalogOffer(
            offer_id="crime-withdrawn",
            title="Withdrawn crime offer",
            categories=("crime",),
            domain="bookshop",
            value=1000.0,
            active=False,
        )
    )
    return offers


@pytest.fixture
def store(engage_app: App) -> Iterator[CatalogStore]:
    settings = engage_app.settings
    catalog = CatalogStore.connect(settings.redis.url or "", settings.redis.prefix)
    demo = read_catalog_file(DEMO_FILE)
    catalog.publish(demo, by="test")
    yield catalog
    # The session's other tests rank the demo's offers.
    catalog.publish(demo, by="test")
    wait_version(engage_app, catalog.current_version())


def wait_version(app: App, version: int, shards: bool = False) -> None:
    eventually(
        lambda: app.get("/v1/catalog?audit=0").json()["version"] == version,
        30,
        f"the API serving catalogue version {version}",
    )
    if not shards:
        return
    settings = app.settings
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    try:

        def versions() -> set[int]:
            table = router.refresh(force=True)
            infos = ray.get([router.handle(s).introspect.remote() for s in table.shards])
            return {info["catalog"]["version"] for info in infos}

        eventually(lambda: versions() == {version}, 30, f"every shard serving version {version}")
    finally:
        router.close()


def browse(app: App, shelf: str, events: int = 3) -> str:
    customer = f"shop-{uuid.uuid4().hex[:8]}"
    now = time.time()
    views = [
        event("product_view", customer=customer, at=now + i, category=shelf, product_id=f"b{i}")
        for i in range(events)
    ]
    produce(app.kafka, views)
    return customer


def browse_offer(app: App, customer: str) -> dict[str, Any]:
    actions = actions_for(app, customer, "offer", timeout_s=60)
    offers = [a for a in actions if a.get("rule_id") == "browse_offer"]
    assert offers, f"no browse offer for {customer}: {actions}"
    return offers[0]


def best_offers(app: App, customer: str, k: int = 50) -> list[dict[str, Any]]:
    answer = app.get(f"/v1/customers/{customer}/next-best-offer?k={k}")
    assert answer.status_code == 200, answer.text
    offers: list[dict[str, Any]] = answer.json()["offers"]
    return offers


def test_a_bookshop_catalogue_is_served_by_the_api_and_the_shards(
    engage_app: App, store: CatalogStore
) -> None:
    published = store.publish(bookshop(), by="merch@bookshop")
    assert len(published.change.added) == 5_002
    wait_version(engage_app, published.version, shards=True)

    # A visitor browsing crime gets a crime offer from the rule, decided on a shard...
    customer = browse(engage_app, "crime")
    offer = browse_offer(engage_app, customer)
    assert offer["offer_id"].startswith("crime-")
    assert offer["offer_id"] not in {"crime-expired", "crime-withdrawn"}
    # ... and over next-best-offer, decided by the API.
    ranked = eventually(lambda: best_offers(engage_app, customer), 30, "offers for the visitor")
    assert ranked[0]["offer_id"].startswith("crime-")
    assert ranked[0]["category"] == "crime"
    served = {o["offer_id"] for o in ranked}
    assert not served & {"crime-expired", "crime-withdrawn"}

    # An offer added while traffic flows is served within 5 s, by the API and the shards.
    fresh = {
        "offer_id": "crime-fresh",
        "title": "New this morning: signed crime firsts",
        "categories": ["crime"],
        "domain": "bookshop",
        "value": 50.0,
    }
    put = engage_app.request("PUT", "/v1/catalog/offers/crime-fresh", ADMIN_TOKEN, json=fresh)
    assert put.status_code == 200, put.text
    added_at = time.monotonic()
    eventually(
        lambda: best_offers(engage_app, customer, 1)[0]["offer_id"] == "crime-fresh",
        5,
        "the added offer first for the crime reader",
    )
    wait_version(engage_app, put.json()["version"], shards=True)
    assert time.monotonic() - added_at < 5
    later = browse(engage_app, "crime")
    assert browse_offer(engage_app, later)["offer_id"] == "crime-fresh"

    # A rollback serves the previous catalogue again, everywhere.
    back = engage_app.request("POST", "/v1/catalog/rollback", ADMIN_TOKEN)
    assert back.status_code == 200, back.text
    assert back.json()["removed"] == ["crime-fresh"]
    eventually(
        lambda: best_offers(engage_app, customer, 1)[0]["offer_id"] != "crime-fresh",
        5,
        "the API no longer offering the rolled-back offer",
    )
    wait_version(engage_app, back.json()["version"], shards=True)
    last = browse(engage_app, "crime")
    rolled = browse_offer(engage_app, last)["offer_id"]
    assert rolled.startswith("crime-")
    assert rolled != "crime-fresh"


def test_a_feed_on_the_catalog_topic_puts_and_retires_offers(
    engage_app: App, store: CatalogStore
) -> None:
    """Records keyed by offer id on the compacted catalogue topic: an offer's JSON puts
    it, a tombstone retires it, a bad record is refused where refused calls are counted
    and the rest of its batch applied."""
    from kafka import KafkaProducer

    topic = engage_app.kafka.catalog_topic
    producer = KafkaProducer(bootstrap_servers=engage_app.kafka.bootstrap)
    fresh = CatalogOffer(
        offer_id=f"feed-{uuid.uuid4().hex[:6]}",
        title="Poetry month",
        categories=("poetry",),
        domain="bookshop",
        value=3.0,
    )
    try:
        producer.send(topic, key=fresh.offer_id.encode(), value=fresh.model_dump_json().encode())
        producer.send(topic, key=b"bad-offer", value=b'{"offer_id": "bad-offer", "value": -1}')
        producer.flush(10)

        def served() -> set[str]:
            return {o["offer_id"] for o in engage_app.get("/v1/catalog/offers").json()["offers"]}

        eventually(lambda: fresh.offer_id in served(), 30, "the fed offer served")
        assert "bad-offer" not in served()
        (entry, *_) = engage_app.get("/v1/catalog?audit=1").json()["audit"]
        assert (entry["action"], entry["by"]) == ("feed", "feed:kafka")
        status = engage_app.get("/v1/catalog?audit=0").json()["feed"]
        assert status["refused"] >= 1

        def refused() -> list[dict[str, Any]]:
            rows = engage_app.get("/v1/reports/collect").json()["by_field"]
            return [r for r in rows if r["source"] == "catalog_feed"]

        assert eventually(refused, 30, "the bad record counted")[0]["field"] == "title"

        producer.send(topic, key=fresh.offer_id.encode(), value=None)  # a tombstone
        producer.flush(10)
        eventually(lambda: fresh.offer_id not in served(), 30, "the retired offer gone")
    finally:
        producer.close()
