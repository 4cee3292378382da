"""An e-commerce event's missing price or category, taken from the catalogue's product."""

from __future__ import annotations

from typing import Any

from actors.catalog.catalog import Catalog
from actors.catalog.offer import CatalogOffer
from actors.model.events import CartAdd, ProductView, Purchase
from actors.turn.prices import completed
from tests.support import event


def offer(offer_id: str, **fields: Any) -> CatalogOffer:
    base: dict[str, Any] = {
        "title": offer_id,
        "categories": ["Crime", "Fiction"],
        "domain": "books",
        "value": 2.0,
    }
    return CatalogOffer.model_validate({"offer_id": offer_id, **base, **fields})


CATALOG = Catalog.of(
    3,
    [
        offer("crime_week", price=9.99, product_ids=["isbn-1", "isbn-2"]),
        offer("isbn-9", price=4.0, categories=["Cookery"]),
        offer("no_price", product_ids=["isbn-3"]),
    ],
)


def test_an_add_without_a_price_takes_the_price_and_category_of_the_offer_listing_it() -> None:
    filled = completed(event("cart_add", product_id="isbn-2", price=None, category=None), CATALOG)
    assert isinstance(filled, CartAdd)
    assert (filled.price, filled.category) == (9.99, "crime")


def test_a_product_sold_as_an_offer_of_its_own_id_is_found_too() -> None:
    filled = completed(event("product_view", product_id="isbn-9", category=None), CATALOG)
    assert isinstance(filled, ProductView)
    assert filled.category == "cookery"


def test_what_the_site_sent_is_never_overwritten() -> None:
    sent = event("cart_add", product_id="isbn-1", price=12.0, category="gifts")
    assert completed(sent, CATALOG) is sent
    partly = completed(event("cart_add", product_id="isbn-1", price=None), CATALOG)
    assert isinstance(partly, CartAdd)
    assert (partly.price, partly.category) == (9.99, "electronics")


def test_an_unknown_product_or_one_without_a_price_stays_unknown() -> None:
    unknown = event("cart_add", product_id="isbn-404", price=None)
    assert completed(unknown, CATALOG) is unknown
    unpriced = completed(event("cart_add", product_id="isbn-3", price=None), CATALOG)
    assert isinstance(unpriced, CartAdd)
    assert unpriced.price is None


def test_an_orders_lines_are_completed_one_by_one() -> None:
    items = [{"product_id": "isbn-1"}, {"product_id": "zz", "category": "toys", "price": 1.0}]
    filled = completed(event("purchase", items=items), CATALOG)
    assert isinstance(filled, Purchase)
    assert [(i.price, i.category) for i in filled.items] == [(9.99, "crime"), (1.0, "toys")]
