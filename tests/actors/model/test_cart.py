"""The cart: a line whose price nobody gave is kept, counted and flagged, never dropped."""

from __future__ import annotations

from actors.model.merge import merge_states
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json, state_to_json
from actors.rules.context import cart_view
from tests.support import event


def test_an_add_without_a_price_counts_the_item_and_flags_the_value_partial() -> None:
    state = CustomerState()
    state.apply(event("cart_add", product_id="a", price=10.0, quantity=2))
    state.apply(event("cart_add", product_id="b", price=None, category=None))
    assert state.cart_items == 3
    assert state.cart_value == 20.0
    assert state.cart_value_partial
    assert cart_view(state) == {"items": 3, "value": 20.0, "partial": True, "products": ["a", "b"]}


def test_a_cart_of_known_prices_is_not_partial() -> None:
    state = CustomerState()
    assert not state.cart_value_partial
    state.apply(event("cart_add", product_id="a", price=10.0))
    assert not state.cart_value_partial


def test_a_known_price_is_kept_over_a_later_add_without_one() -> None:
    state = CustomerState()
    state.apply(event("cart_add", product_id="a", price=None))
    state.apply(event("cart_add", product_id="a", price=7.5))
    state.apply(event("cart_add", product_id="a", price=None))
    assert state.cart == {"a": ("electronics", 7.5, 3)}
    assert not state.cart_value_partial


def test_an_add_without_a_category_adds_to_no_interest() -> None:
    state = CustomerState()
    state.apply(event("cart_add", product_id="a", category=None, price=3.0))
    assert state.cart_items == 1
    assert not state.affinities


def test_an_unknown_price_survives_a_save_and_a_merge() -> None:
    state = CustomerState()
    state.apply(event("cart_add", product_id="a", price=None))
    saved = state_from_json(state_to_json(state))
    assert saved.cart == state.cart
    other = CustomerState()
    other.apply(event("cart_add", product_id="a", price=4.0, customer="c2"))
    merged = merge_states(saved, other)
    assert merged.cart == {"a": ("electronics", 4.0, 2)}
