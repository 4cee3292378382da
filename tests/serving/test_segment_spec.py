"""Segment's e-commerce spec, event by event: its minimal call (no properties: the spec
requires none) and its full example are both applied, each as the engage event it maps to.

The full examples are the spec's own (segment.com/docs/connections/spec/ecommerce/v2),
trimmed of properties engage does not read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from actors.model.events import CartAdd, CartRemove, Custom, ProductView, Purchase
from serving.segment import to_event

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PRODUCT = {
    "product_id": "507f1f77bcf86cd799439011",
    "sku": "G-32",
    "category": "Games",
    "name": "Monopoly: 3rd Edition",
    "brand": "Hasbro",
    "variant": "200 pieces",
    "price": 18.99,
    "quantity": 1,
    "coupon": "MAYDEALS",
    "position": 3,
    "url": "https://www.example.com/product/path",
    "image_url": "https://www.example.com/product/path.jpg",
}
ORDER = {
    "checkout_id": "fksdjfsdjfisjf9sdfjsd9f",
    "order_id": "50314b8e9bcf000000000000",
    "affiliation": "Google Store",
    "total": 27.50,
    "subtotal": 22.50,
    "revenue": 25.00,
    "shipping": 3,
    "tax": 2,
    "discount": 2.5,
    "coupon": "hasbros",
    "currency": "USD",
    "products": [
        {**PRODUCT, "price": 19, "quantity": 1},
        {
            "product_id": "505bd76785ebb509fc183733",
            "sku": "46493-32",
            "name": "Uno Card Game",
            "price": 3,
            "quantity": 2,
            "category": "Games",
        },
    ],
}
# (spec event, engage event type, the spec's full example)
SPEC: list[tuple[str, type, dict[str, Any]]] = [
    ("Products Searched", Custom, {"query": "blue roses"}),
    ("Product List Viewed", Custom, {"list_id": "hot_deals_1", "category": "Deals"}),
    ("Product List Filtered", Custom, {"list_id": "todays_deals_may_11_2016"}),
    ("Promotion Viewed", Custom, {"promotion_id": "promo_1", "name": "75% store-wide shoe sale"}),
    ("Promotion Clicked", Custom, {"promotion_id": "promo_1", "creative": "top_banner_2"}),
    ("Product Clicked", Custom, PRODUCT),
    ("Product Viewed", ProductView, {**PRODUCT, "currency": "USD", "value": 18.99}),
    ("Product Added", CartAdd, {**PRODUCT, "cart_id": "skdjsidjsdkdj29j"}),
    ("Product Removed", CartRemove, {**PRODUCT, "cart_id": "ksjdj92dj29dk2k2"}),
    ("Cart Viewed", Custom, {"cart_id": "d92jd29jd92jd29j92d92jd", "products": [PRODUCT]}),
    ("Checkout Started", Custom, {**ORDER, "value": 30}),
    ("Checkout Step Viewed", Custom, {"checkout_id": "50314b8e9bcf000000000000", "step": 2}),
    ("Checkout Step Completed", Custom, {"checkout_id": "50314b8e9bcf000000000000", "step": 2}),
    ("Payment Info Entered", Custom, {"checkout_id": "39f39fj39f3jf93fj9fj39fj3f", "step": 2}),
    ("Order Updated", Custom, ORDER),
    ("Order Completed", Purchase, ORDER),
    ("Order Refunded", Custom, {"order_id": "50314b8e9bcf000000000000", "total": 30}),
    ("Order Cancelled", Custom, ORDER),
    ("Coupon Entered", Custom, {"order_id": "50314b8e9bcf000000000000", "coupon_id": "may_deals"}),
    ("Coupon Applied", Custom, {"order_id": "50314b8e9bcf000000000000", "discount": 2.5}),
    ("Coupon Denied", Custom, {"order_id": "ljfsdkjfsdf", "reason": "Coupon expired"}),
    ("Coupon Removed", Custom, {"order_id": "50314b8e9bcf000000000000", "discount": 2.5}),
    ("Product Added to Wishlist", Custom, {**PRODUCT, "wishlist_id": "skdjsidjsdkdj29j"}),
    ("Product Removed from Wishlist", Custom, {**PRODUCT, "wishlist_id": "skdjsidjsdkdj29j"}),
    ("Wishlist Product Added to Cart", Custom, {**PRODUCT, "wishlist_id": "skdjsidjsdkdj29j"}),
    ("Product Shared", Custom, {**PRODUCT, "share_via": "email"}),
    ("Cart Shared", Custom, {"share_via": "email", "cart_id": "d92jd29jd92jd29j92d92jd"}),
    ("Product Reviewed", Custom, {"product_id": "507f1f77bcf86cd799439011", "rating": 5}),
]


def call(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "track",
        "event": name,
        "userId": "u1",
        "messageId": "m-1",
        "properties": properties,
    }


@pytest.mark.parametrize(("name", "kind", "full"), SPEC, ids=[s[0] for s in SPEC])
def test_the_full_example_is_applied_as_its_engage_event(
    name: str, kind: type, full: dict[str, Any]
) -> None:
    assert isinstance(to_event(call(name, full), NOW), kind)


@pytest.mark.parametrize(("name", "kind", "full"), SPEC, ids=[s[0] for s in SPEC])
def test_the_minimal_call_is_applied_never_refused(
    name: str, kind: type, full: dict[str, Any]
) -> None:
    event = to_event(call(name, {}), NOW)
    # Without a product a product call cannot touch a cart line: it stays a custom event
    # of its name; an order without an id or total is still an order.
    expected = Custom if kind in (ProductView, CartAdd, CartRemove) else kind
    assert isinstance(event, expected)
    if isinstance(event, Custom):
        assert event.name == name


def test_a_product_added_with_an_id_and_no_price_is_a_cart_add_of_unknown_price() -> None:
    added = to_event(call("Product Added", {"product_id": "p9", "category": "Books"}), NOW)
    assert isinstance(added, CartAdd)
    assert (added.product_id, added.category, added.price) == ("p9", "books", None)


def test_an_order_without_a_total_adds_up_its_priced_lines() -> None:
    products = [{"product_id": "a", "price": 4, "quantity": 2}, {"product_id": "b"}]
    order = to_event(call("Order Completed", {"products": products}), NOW)
    assert isinstance(order, Purchase)
    assert order.order_id == "m-1"
    assert order.total == 8
    assert [(i.product_id, i.price) for i in order.items] == [("a", 4), ("b", None)]


def test_the_full_order_keeps_its_revenue_lines_and_currency() -> None:
    order = to_event(call("Order Completed", ORDER), NOW)
    assert isinstance(order, Purchase)
    assert (order.order_id, order.total, order.currency) == ("50314b8e9bcf000000000000", 25, "USD")
    assert [i.quantity for i in order.items] == [1, 2]
