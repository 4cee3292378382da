"""CustomerState: the session context, built deterministically from event time."""

from __future__ import annotations

import math

import pytest

from actors.errors import InvalidEventError
from actors.model.bounds import (
    AFFINITY_HALF_LIFE_S,
    MAX_AFFINITIES,
    MAX_CART_LINES,
    MAX_CART_QUANTITY,
    MAX_SESSION_CATEGORIES,
    SESSION_GAP_S,
    custom_bucket,
)
from actors.model.events import MAX_TRAITS
from actors.model.merge import merge_states
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json, state_to_dict, state_to_json
from tests.support import T0, event


def test_sessions_are_cut_after_thirty_minutes_of_event_time() -> None:
    state = CustomerState()
    state.apply(event("product_view", at=T0))
    state.apply(event("product_view", at=T0 + SESSION_GAP_S - 1))
    assert state.session_index == 1
    assert state.session_page_views == 2
    state.apply(event("page_view", at=T0 + 2 * SESSION_GAP_S + 1))
    assert state.session_index == 2
    assert state.session_page_views == 1
    assert state.session_products is None


def test_a_late_event_joins_the_current_session_without_moving_time_back() -> None:
    state = CustomerState()
    state.apply(event("product_view", at=T0 + 100))
    state.apply(event("product_view", at=T0 + 50, product_id="p2"))
    assert state.last_event_at == T0 + 100
    assert state.session_products == ["p1", "p2"]


def test_the_cart_holds_items_and_value_and_a_purchase_empties_it() -> None:
    state = CustomerState()
    state.apply(event("cart_add", product_id="a", price=10.0, quantity=2))
    state.apply(event("cart_add", product_id="b", price=5.0, category="books"))
    state.apply(event("cart_remove", product_id="a", quantity=1))
    assert state.cart_items == 2
    assert state.cart_value == 15.0
    state.apply(
        event(
            "purchase",
            total=15.0,
            items=[
                {"product_id": "a", "category": "electronics", "price": 10.0},
                {"product_id": "b", "category": "books", "price": 5.0},
            ],
        )
    )
    assert state.cart is None
    assert state.orders == 1
    assert state.spend == 15.0


def test_affinities_decay_with_a_half_life_in_event_time() -> None:
    state = CustomerState()
    state.apply(event("product_view", category="sports", at=T0))
    assert math.isclose(state.affinity("sports", T0), 1.0)
    assert math.isclose(state.affinity("sports", T0 + AFFINITY_HALF_LIFE_S), 0.5)
    state.apply(event("product_view", category="sports", at=T0 + AFFINITY_HALF_LIFE_S))
    assert math.isclose(state.affinity("sports", T0 + AFFINITY_HALF_LIFE_S), 1.5)
    assert state.top_affinity(T0) == "sports"


def test_any_category_a_site_sends_counts_towards_the_customers_affinities() -> None:
    state = CustomerState()
    for i in range(3):
        state.apply(event("product_view", category="crime", at=T0 + i))
    state.apply(event("product_view", category="electronics", at=T0 + 3))
    assert math.isclose(state.affinity("crime", T0 + 3), 3.0, rel_tol=1e-4)
    assert state.top_affinity(T0 + 3) == "crime"


def test_affinities_keep_the_strongest_categories_only() -> None:
    state = CustomerState()
    state.apply(event("product_view", category="favourite", at=T0))
    state.apply(event("product_view", category="favourite", at=T0 + 1))
    for i in range(MAX_AFFINITIES + 10):
        state.apply(event("product_view", category=f"invented-{i:03d}", at=T0 + 2 + i))
    assert state.affinities is not None
    assert len(state.affinities) == MAX_AFFINITIES
    assert "favourite" in state.affinities
    merged = merge_states(state, state)
    assert merged.affinities is not None
    assert len(merged.affinities) == MAX_AFFINITIES


def test_fraud_velocity_counts_payments_in_the_last_hour_and_day() -> None:
    state = CustomerState()
    for minutes, amount in [(0, 10.0), (30, 20.0), (180, 30.0), (26 * 60, 40.0)]:
        state.apply(event("card_payment", amount=amount, at=T0 + minutes * 60))
    now = T0 + 26 * 60 * 60
    assert state.payments_since(now - 3600) == (1, 40.0)
    # Only payments within 24 h of the newest are kept.
    assert state.payments_since(now - 86_400) == (2, 70.0)
    assert state.pay_count == 4
    assert state.countries == ["US"]


def test_an_event_applied_twice_changes_nothing() -> None:
    state = CustomerState()
    duplicate = event("cart_add")
    state.apply(duplicate)
    before = state_to_json(state)
    state.apply(duplicate)
    assert state_to_json(state) == before
    assert state.has_applied(duplicate)


def test_identify_records_consent_email_and_timezone() -> None:
    state = CustomerState()
    state.apply(event("identify", email="a@b.co", timezone="Europe/Paris", consent_marketing=False))
    assert (state.email, state.timezone) == ("a@b.co", "Europe/Paris")
    assert state.consent == dict.fromkeys(
        ("email.marketing", "push.marketing", "sms.marketing", "in_app.marketing"), False
    )


def test_a_later_identify_changes_only_the_consent_it_names() -> None:
    state = CustomerState()
    state.apply(event("identify", consent={"*.marketing": False, "sms.service": False}))
    state.apply(event("identify", consent={"email.marketing": True}, at=T0 + 1))
    assert state.consent == {
        "email.marketing": True,
        "push.marketing": False,
        "sms.marketing": False,
        "in_app.marketing": False,
        "sms.service": False,
    }


def test_state_round_trips_through_json() -> None:
    state = CustomerState()
    for e in [
        event("product_view"),
        event("cart_add"),
        event("card_payment", device_id="d1"),
        event("content_view", completion=1.0),
    ]:
        state.apply(e)
    state.mark_fired("browse_offer", T0)
    again = state_from_json(state_to_json(state))
    assert again == state
    assert state_to_json(again) == state_to_json(state)


def test_merge_combines_two_histories_of_one_person() -> None:
    anonymous, known = CustomerState(), CustomerState()
    anonymous.apply(event("product_view", customer="x", category="home", at=T0))
    anonymous.apply(event("cart_add", customer="x", product_id="h1", category="home", at=T0 + 10))
    known.apply(event("purchase", total=50.0, at=T0 - 86_400))
    known.apply(event("identify", consent_marketing=False, at=T0 - 86_400))
    merged = merge_states(anonymous, known)
    assert merged.orders == 1
    assert merged.cart_items == 1
    assert merged.events_total == 4
    assert merged.first_seen == T0 - 86_400
    assert merged.last_event_at == T0 + 10
    assert merged.consent is not None
    assert merged.consent["email.marketing"] is False  # the more restrictive answer wins
    assert merged.affinity("home", T0 + 10) > 0


def test_merge_with_an_empty_state_keeps_everything() -> None:
    state = CustomerState()
    for e in [event("product_view"), event("card_payment"), event("content_view")]:
        state.apply(e)
    merged = merge_states(state, CustomerState())
    assert state_to_dict(merged) == state_to_dict(state)


def test_merge_is_defined_for_every_field() -> None:
    state = CustomerState()
    for e in [
        event("product_view"),
        event("cart_add"),
        event("card_payment", device_id="d"),
        event("content_view"),
        event("identify", email="a@b.co"),
        event("login", success=False),
        event("offer_feedback", outcome="shown"),
        event("custom", name="Checkout Step Viewed"),
    ]:
        state.apply(e)
    state.mark_fired("r", T0)
    state.fraud_alert_at = T0
    merged = merge_states(state, state)
    for name in CustomerState.__slots__:
        assert getattr(merged, name) is not None or getattr(state, name) is None, name


def test_a_cart_is_bounded_in_lines_and_in_quantity() -> None:
    state = CustomerState()
    for n in range(MAX_CART_LINES + 50):
        state.apply(event("cart_add", product_id=f"p{n}", at=T0 + n))
    for _ in range(5):
        state.apply(event("cart_add", product_id="p0", quantity=1000, at=T0 + 500))
    assert state.cart is not None
    assert len(state.cart) == MAX_CART_LINES
    assert "p120" not in state.cart  # refused, as a full cart refuses
    assert state.cart["p0"][2] == MAX_CART_QUANTITY


def test_a_session_counts_a_bounded_number_of_categories_and_every_page_view() -> None:
    state = CustomerState()
    for n in range(MAX_SESSION_CATEGORIES + 10):
        state.apply(event("product_view", category=f"cat{n}", at=T0 + n))
    assert state.session_categories is not None
    assert len(state.session_categories) == MAX_SESSION_CATEGORIES
    assert state.session_page_views == MAX_SESSION_CATEGORIES + 10


def test_a_clone_changes_apart_from_its_original() -> None:
    state = CustomerState()
    state.apply(event("cart_add", product_id="p1", at=T0))
    copy = state.clone()
    assert copy == state
    copy.apply(event("cart_add", product_id="p2", at=T0 + 1))
    copy.apply(event("product_view", category="toys", at=T0 + 2))
    assert state.cart is not None
    assert set(state.cart) == {"p1"}
    assert state.events_total == 1
    assert copy.events_total == 3


def test_identify_traits_are_kept_newest_first_bounded_and_removable() -> None:
    state = CustomerState()
    state.apply(event("identify", traits={"plan": "gold", "seats": 3}))
    state.apply(event("identify", traits={"plan": "silver", "seats": None}))
    assert state.traits == {"plan": "silver"}
    for n in range(MAX_TRAITS):
        state.apply(event("identify", traits={f"t{n}": n}))
    assert len(state.traits or {}) == MAX_TRAITS
    assert "plan" not in (state.traits or {})  # set longest ago: the first to go
    assert state_from_json(state_to_json(state)).traits == state.traits


def test_merging_two_histories_keeps_the_more_recent_traits() -> None:
    visitor, known = CustomerState(), CustomerState()
    known.apply(event("identify", at=T0, traits={"plan": "free", "team": "a"}))
    visitor.apply(event("identify", at=T0 + 60, traits={"plan": "gold"}))
    assert merge_states(known, visitor).traits == {"team": "a", "plan": "gold"}
    assert merge_states(visitor, known).traits == {"team": "a", "plan": "gold"}


def test_an_identify_with_too_many_or_too_long_traits_is_refused() -> None:
    with pytest.raises(InvalidEventError):
        event("identify", traits={f"t{n}": n for n in range(MAX_TRAITS + 1)})
    with pytest.raises(InvalidEventError):
        event("identify", traits={"x" * 65: 1})
    with pytest.raises(InvalidEventError):
        event("identify", traits={"bio": "x" * 513})


DAY = 86_400.0


def test_custom_events_are_counted_per_name_bucket_over_the_last_week() -> None:
    state = CustomerState()
    wishlist, chat = "Product Added to Wishlist", "Support Chat Opened"
    assert custom_bucket(wishlist) != custom_bucket(chat)
    for at in (T0 - 8 * DAY, T0 - 3 * DAY, T0 - DAY, T0):
        state.apply(event("custom", name=wishlist, at=at))
    state.apply(event("custom", name=chat, at=T0))
    counts = state.custom_counts(T0)
    assert counts[custom_bucket(wishlist)] == 3  # the one 8 days ago is out of the week
    assert counts[custom_bucket(chat)] == 1
    assert sum(counts) == 4
    assert sum(state.custom_counts(T0 + 10 * DAY)) == 0
    # At most a week of days is kept, and a late event older than that counts nowhere.
    assert state.custom_days is not None
    assert len(state.custom_days) == 3
    state.apply(event("custom", name=chat, at=T0 - 30 * DAY))
    assert state.custom_counts(T0) == counts
    assert state_from_json(state_to_json(state)).custom_days == state.custom_days


def test_merging_adds_custom_event_counts_day_by_day() -> None:
    a, b = CustomerState(), CustomerState()
    a.apply(event("custom", name="Coupon Copied", at=T0 - DAY))
    b.apply(event("custom", name="Coupon Copied", at=T0 - DAY))
    b.apply(event("custom", name="Coupon Copied", at=T0))
    merged = merge_states(a, b)
    assert merged.custom_counts(T0)[custom_bucket("Coupon Copied")] == 3
    assert len(merged.custom_days or ()) == 2
