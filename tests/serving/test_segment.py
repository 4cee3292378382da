"""Sites already instrumented with Segment send to engage unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from actors.errors import InvalidEventError
from actors.model.events import (
    Alias,
    CardPayment,
    Custom,
    Identify,
    PageView,
    ProductView,
    Purchase,
)
from serving.segment import to_event
from tests.conftest import CLIENT_KEY, WRITE_KEY, App
from tests.serving.test_api import wait_context


@pytest.mark.integration
def test_the_real_segment_client_sends_to_engage(engage_app: App) -> None:
    import segment.analytics as analytics

    errors: list[Exception] = []
    client = analytics.Client(
        WRITE_KEY, host=engage_app.url, sync_mode=True, on_error=lambda e, batch: errors.append(e)
    )
    user = f"seg-{uuid.uuid4().hex[:8]}"
    client.identify(user, {"email": "ada@example.com", "consent_marketing": True})
    client.page(user, category="Electronics", name="TVs", properties={"url": "/c/electronics"})
    for n in range(2):
        client.track(
            user,
            "Product Viewed",
            {"product_id": f"tv-{n}", "category": "Electronics", "price": 499.0},
        )
    client.flush()
    assert errors == []
    context = wait_context(engage_app, user, lambda c: c["session"]["events"] >= 4)
    assert context["customer"]["email"] == "ada@example.com"
    assert context["session"]["categories"] == {"electronics": 3}
    assert context["session"]["recent_products"] == ["tv-0", "tv-1"]


@pytest.mark.integration
def test_a_wrong_write_key_is_refused_like_segment_would(engage_app: App) -> None:
    import segment.analytics as analytics
    from segment.analytics.request import APIError

    client = analytics.Client("not-a-key", host=engage_app.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as caught:
        client.track("someone", "Product Viewed", {"product_id": "p", "category": "x", "price": 1})
    assert caught.value.status == 401
    assert "needs a write key" in str(caught.value)


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_segment_calls_map_onto_engage_events() -> None:
    viewed = to_event(
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": "u1",
            "messageId": "m1",
            "properties": {"sku": "s-1", "category": "Home & Garden", "price": 20},
            "context": {"ip": "1.2.3.4", "device": {"id": "d1"}, "timezone": "Europe/Paris"},
        },
        NOW,
    )
    assert isinstance(viewed, ProductView)
    assert (viewed.event_id, viewed.product_id, viewed.category) == ("m1", "s-1", "home_garden")
    assert viewed.context is not None
    assert (viewed.context.device_id, viewed.context.timezone) == ("d1", "Europe/Paris")
    order = to_event(
        {
            "type": "track",
            "event": "Order Completed",
            "anonymousId": "a1",
            "properties": {
                "order_id": "o1",
                "revenue": 30,
                "products": [{"product_id": "p", "category": "Books", "price": 30}],
            },
        },
        NOW,
    )
    assert isinstance(order, Purchase)
    assert order.actor_id == "anon:a1"
    assert order.items[0].category == "books"
    page = to_event({"type": "page", "userId": 7, "name": "Home"}, NOW)
    assert isinstance(page, PageView)
    assert page.customer_id == "7"
    assert page.timestamp == NOW
    consent = to_event(
        {
            "type": "identify",
            "userId": "u1",
            "context": {"consent": {"categoryPreferences": {"Marketing": False}}},
        },
        NOW,
    )
    assert isinstance(consent, Identify)
    assert consent.consent == {"*.marketing": False}
    payment = to_event(
        {
            "type": "track",
            "event": "Card Payment",
            "userId": "u1",
            "properties": {"payment_id": "p1", "amount": 12.5, "merchant": "Cafe", "country": "FR"},
        },
        NOW,
    )
    assert isinstance(payment, CardPayment)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"type": "track", "event": "", "userId": "u"}, "name"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "alias", "previousId": "v"}, "userId"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "merge", "userId": "u"}, "type"),
        ({"type": "page"}, "<root>"),
    ],
)
def test_calls_engage_cannot_use_are_refused_with_the_field(
    call: dict[str, object], field: str
) -> None:
    from actors.errors import InvalidEventError

    with pytest.raises(InvalidEventError) as caught:
        to_event(call, NOW)
    assert caught.value.field == field or field in caught.value.reason


def test_a_malformed_property_refuses_that_call_with_the_field() -> None:
    call = {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {}}
    with pytest.raises(InvalidEventError) as caught:
        to_event({**call, "properties": {"order_id": "o", "products": 5}}, NOW)
    assert caught.value.field == "properties.products"
    with pytest.raises(InvalidEventError) as unreadable:
        to_event(
            {
                "type": "track",
                "event": "Video Content Playing",
                "userId": "u1",
                "properties": {"position": 5, "total_length": "long"},
            },
            NOW,
        )
    assert unreadable.value.field == "properties"


@pytest.mark.integration
def test_one_bad_call_does_not_sink_its_batch(engage_app: App) -> None:
    user = f"seg-{uuid.uuid4().hex[:8]}"
    good = {"type": "page", "userId": user, "properties": {"url": "/"}}
    bad = {"type": "track", "event": "Order Completed", "userId": user, "properties": {}}
    bad["properties"] = {"order_id": "o1", "products": 5}
    answer = engage_app.request(
        "POST", "/v1/batch", WRITE_KEY, json={"batch": [good, bad, {**good, "messageId": "m2"}]}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["success"], body["accepted"]) == (True, 2)
    assert [(r["index"], r["errors"][0]["field"]) for r in body["rejected"]] == [
        (1, "properties.products")
    ]
    nothing = engage_app.request("POST", "/v1/batch", WRITE_KEY, json={"batch": [bad]})
    assert nothing.status_code == 400
    assert nothing.json()["code"] == "invalid_request"  # an SDK gives up on it, no retries


@pytest.mark.integration
def test_the_real_rudderstack_client_sends_gzip_batches_to_engage(engage_app: App) -> None:
    from rudderstack.analytics import Client

    errors: list[Exception] = []
    client = Client(
        WRITE_KEY,
        host=engage_app.url,
        sync_mode=True,
        gzip=True,  # the SDK's default
        on_error=lambda e, batch: errors.append(e),
    )
    user = f"rs-{uuid.uuid4().hex[:8]}"
    client.identify(user, {"email": "rudy@example.com"})
    client.track(user, "Product Viewed", {"product_id": "p1", "category": "Books", "price": 9.0})
    client.flush()
    assert errors == []
    context = wait_context(engage_app, user, lambda c: c["session"]["events"] >= 2)
    assert context["customer"]["email"] == "rudy@example.com"


def test_identify_traits_are_flattened_and_bounded_for_rules() -> None:
    identify = to_event(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {
                "email": "ada@example.com",
                "plan": "gold",
                "address": {"city": "Paris", "zip": 75001},
                "tags": ["a", "b"],
                "bio": "x" * 2000,
                **{f"extra{n}": n for n in range(60)},
            },
        },
        NOW,
    )
    assert isinstance(identify, Identify)
    assert identify.email == "ada@example.com"
    traits = identify.traits
    assert (traits["plan"], traits["address.city"], traits["address.zip"]) == (
        "gold",
        "Paris",
        75001,
    )
    assert "tags" not in traits
    assert "email" not in traits
    assert len(str(traits["bio"])) == 512
    assert len(traits) == 50


def test_any_other_track_name_is_a_custom_event_with_its_properties() -> None:
    custom = to_event(
        {
            "type": "track",
            "event": "Checkout Step Viewed",
            "anonymousId": "a1",
            "properties": {"step": 3, "shipping": {"method": "express"}, "items": [1, 2]},
        },
        NOW,
    )
    assert isinstance(custom, Custom)
    assert custom.name == "Checkout Step Viewed"
    assert custom.properties == {"step": 3, "shipping.method": "express"}


@pytest.mark.integration
def test_the_browser_sdks_requests_are_served_with_the_key_in_the_body(engage_app: App) -> None:
    """As analytics.js sends them: one-letter paths, `text/plain`, the write key in the
    body (a client key: what a web page embeds), and batches to `/v1/b`."""
    visitor = f"anon-{uuid.uuid4().hex[:8]}"
    url = engage_app.url

    def send(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{url}/v1/{path}",
            data=json.dumps({**body, "writeKey": CLIENT_KEY}),
            headers={"Content-Type": "text/plain", "X-Forwarded-For": f"10.1.{path}.1"},
            timeout=15,
        )

    page = send("p", {"type": "page", "anonymousId": visitor, "properties": {"url": "/shop"}})
    assert page.status_code == 200, page.text
    step = {"anonymousId": visitor, "event": "Checkout Step Viewed", "properties": {"step": 2}}
    answer = send("b", {"batch": [{**step, "type": "track"}, {**step, "type": "track"}]})
    assert (answer.status_code, answer.json()["accepted"]) == (200, 2)
    no_key = requests.post(f"{url}/v1/t", data=json.dumps(step), timeout=15)
    assert no_key.status_code == 401
    actor = f"anon:{visitor}"  # an anonymous visitor's actor
    context = wait_context(engage_app, actor, lambda c: c["session"]["events"] >= 3)
    assert context["session"]["custom"] == {"Checkout Step Viewed": 2}
    # Signing in: the visitor becomes the customer, and its id answers as the customer.
    customer = f"u-{visitor}"
    alias = send("a", {"type": "alias", "userId": customer, "previousId": visitor})
    assert alias.status_code == 200, alias.text
    merged = wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 3)
    assert merged["session"]["custom"] == {"Checkout Step Viewed": 2}
    assert wait_context(engage_app, actor, lambda c: True)["customer_id"] == customer


def test_alias_links_the_visitor_and_group_keeps_the_account_among_the_traits() -> None:
    linked = to_event({"type": "alias", "previousId": "v1", "userId": "u1"}, NOW)
    assert isinstance(linked, Alias)
    assert (linked.customer_id, linked.anonymous_id, linked.actor_id) == ("u1", "v1", "u1")
    # As analytics.js sends it after an identify: previousId is the user id itself.
    late = {"type": "alias", "previousId": "u1", "userId": "u1", "anonymousId": "v2"}
    assert to_event(late, NOW).anonymous_id == "v2"
    group = to_event(
        {"type": "group", "userId": "u1", "groupId": 42, "traits": {"name": "Acme", "seats": 9}},
        NOW,
    )
    assert isinstance(group, Identify)
    assert group.traits == {"group_id": "42", "group.name": "Acme", "group.seats": 9}


def test_an_identify_takes_traits_from_the_context_as_rudderstack_sends_them() -> None:
    identify = to_event(
        {
            "type": "identify",
            "userId": "u1",
            "context": {"traits": {"email": "rudy@example.com", "plan": "pro"}},
        },
        NOW,
    )
    assert isinstance(identify, Identify)
    assert (identify.email, identify.traits) == ("rudy@example.com", {"plan": "pro"})


def test_a_product_viewed_without_a_price_is_a_product_view() -> None:
    viewed = to_event(
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": "u1",
            "properties": {"product_id": "p1", "category": "Books"},
        },
        NOW,
    )
    assert isinstance(viewed, ProductView)
    assert viewed.price is None


def test_a_time_zone_offset_is_dropped_never_the_call() -> None:
    """RudderStack's browser SDK sends `context.timezone` as an offset ("GMT+0100"):
    engage keeps zone names only, and the call goes in without it."""
    page = to_event({"type": "page", "anonymousId": "v1", "context": {"timezone": "GMT+0100"}}, NOW)
    assert page.context is None or page.context.timezone is None
    named = to_event(
        {"type": "identify", "userId": "u1", "traits": {"timezone": "Europe/Paris"}}, NOW
    )
    assert isinstance(named, Identify)
    assert named.timezone == "Europe/Paris"
