"""A customer's cart: product id -> (category, unit price, quantity), bounded.

A line's category is "" and its price None when neither the site nor the catalogue gave
one (Segment's e-commerce spec makes both optional): the line still counts as an item,
and the cart's value is then flagged partial rather than understated in silence.
"""

from __future__ import annotations

from actors.model.bounds import MAX_CART_LINES, MAX_CART_QUANTITY

CartLine = tuple[str, float | None, int]
Cart = dict[str, CartLine]


def add(
    cart: Cart | None, product_id: str, category: str, price: float | None, quantity: int
) -> Cart:
    """The cart with `quantity` more of the product; a full cart takes no new product (as
    a shop refuses one). A known price or category is kept over a later unknown one."""
    cart = {} if cart is None else cart
    previous = cart.get(product_id)
    if previous is None and len(cart) >= MAX_CART_LINES:
        return cart
    held = previous[2] if previous else 0
    if previous is not None:
        category = category or previous[0]
        price = previous[1] if price is None else price
    cart[product_id] = (category, price, min(held + quantity, MAX_CART_QUANTITY))
    return cart


def remove(cart: Cart | None, product_id: str, quantity: int) -> Cart | None:
    """The cart with `quantity` fewer of the product (None once empty)."""
    if not cart or product_id not in cart:
        return cart
    category, price, held = cart[product_id]
    if held > quantity:
        cart[product_id] = (category, price, held - quantity)
    else:
        del cart[product_id]
    return cart or None


def merged(a: Cart | None, b: Cart | None) -> Cart | None:
    """Two carts as one (an identity merge): quantities added, within the bounds."""
    cart: Cart = {}
    for source in (a, b):
        for product_id, (category, price, quantity) in (source or {}).items():
            cart = add(cart, product_id, category, price, quantity)
    return cart or None


def items(cart: Cart | None) -> int:
    return sum(q for _, _, q in cart.values()) if cart else 0


def value(cart: Cart | None) -> float:
    """The value of the lines whose price is known (see `partial`)."""
    return sum(p * q for _, p, q in cart.values() if p is not None) if cart else 0.0


def partial(cart: Cart | None) -> bool:
    """Whether a line's price is unknown, so `value` counts less than the cart holds."""
    return any(p is None for _, p, _ in cart.values()) if cart else False
