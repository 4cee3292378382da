"""What an e-commerce event left out, taken from the catalogue.

Segment's e-commerce spec makes every property optional, and sites send "Product Added"
with a product id but no price. Where the catalogue knows the product (an offer that
lists it in `product_ids`, or whose id it is), its price and first category fill what the
event did not say; where it does not, the event is applied as it is (the cart line's
value unknown, actors.model.cart). Done once per event, before the turn and the prefetch
see it, so both apply the same event.
"""

from __future__ import annotations

from actors.catalog.catalog import Catalog
from actors.model.events import CartAdd, Event, LineItem, ProductView, Purchase


def completed(event: Event, catalog: Catalog) -> Event:
    """`event` with a missing price or category taken from the catalogue's product."""
    if isinstance(event, CartAdd | ProductView):
        if event.price is not None and event.category is not None:
            return event
        update = _missing(event.product_id, event.price, event.category, catalog)
        return event.model_copy(update=update) if update else event
    if isinstance(event, Purchase) and any(_incomplete(item) for item in event.items):
        items = tuple(_item(item, catalog) for item in event.items)
        return event.model_copy(update={"items": items})
    return event


def _incomplete(item: LineItem) -> bool:
    return item.price is None or item.category is None


def _item(item: LineItem, catalog: Catalog) -> LineItem:
    update = _missing(item.product_id, item.price, item.category, catalog)
    return item.model_copy(update=update) if update else item


def _missing(
    product_id: str, price: float | None, category: str | None, catalog: Catalog
) -> dict[str, object]:
    offer = catalog.products.get(product_id)
    if offer is None:
        return {}
    update: dict[str, object] = {}
    if price is None and offer.price is not None:
        update["price"] = offer.price
    if category is None:
        update["category"] = offer.categories[0]
    return update
