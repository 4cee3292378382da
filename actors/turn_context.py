"""The dicts that rule conditions and templates read during a turn.

Built from the customer's state after the event is applied (plus a few values taken
before it, such as how long the customer was away). Plain dicts of plain values: the
condition language can only walk dicts and lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from actors.events import ANON_PREFIX, Event
from actors.features import PAYMENT_FEATURES, feature_dict
from actors.state import CustomerState

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Before:
    """What the turn must know about the state before the event changed it."""

    days_away: float
    payment: list[float] | None


def customer_view(
    customer_id: str,
    state: CustomerState,
    at: float,
    days_away: float,
    suppress_after_fraud_s: float,
) -> dict[str, Any]:
    orders = state.orders
    suppressed = (
        state.fraud_alert_at is not None and at - state.fraud_alert_at < suppress_after_fraud_s
    )
    return {
        "customer_id": customer_id,
        "is_anonymous": customer_id.startswith(ANON_PREFIX),
        "orders": orders,
        "spend": round(state.spend, 2),
        "avg_order_value": round(state.spend / orders, 2) if orders else 0.0,
        "days_since_purchase": (at - state.last_purchase_at) / _DAY
        if state.last_purchase_at is not None
        else None,
        "days_away": days_away,
        "tenure_days": (at - state.first_seen) / _DAY if state.first_seen is not None else 0.0,
        "cart_items": state.cart_items,
        "cart_value": round(state.cart_value, 2),
        "consent_marketing": state.consent_marketing,
        "email": state.email,
        "timezone": state.timezone,
        "usual_amount": round(math.expm1(state.pay_mean), 2) if state.pay_count else None,
        "marketing_suppressed": suppressed,
        "top_affinity": state.top_affinity(at),
        "content_views": state.content_views,
        "card_payments": state.pay_count,
        "failed_logins": state.failed_logins,
        "offers_shown": state.offers_shown,
        "offer_clicks": state.offer_clicks,
        "offer_conversions": state.offer_conversions,
    }


def session_view(state: CustomerState, at: float, category: str | None) -> dict[str, Any]:
    categories = dict(state.session_categories or {})
    start = state.session_start if state.session_start is not None else at
    return {
        "index": state.session_index,
        "events": state.events_total,
        "page_views": state.session_page_views,
        "products": len(state.session_products or ()),
        "categories": categories,
        "category_views": categories.get(category, 0) if category else 0,
        "content": len(state.session_content or ()),
        "duration_min": max(0.0, (at - start) / 60.0),
        "recent_products": list(state.session_products or ()),
        "recent_content": list(state.session_content or ()),
    }


def cart_view(state: CustomerState) -> dict[str, Any]:
    return {
        "items": state.cart_items,
        "value": round(state.cart_value, 2),
        "products": sorted(state.cart or ()),
    }


class LazyContext(Mapping[str, Any]):
    """A context whose roots are computed on first read.

    Most rules read one or two roots (`session`, `customer`); building the feature dict
    or dumping the event for every turn would cost more than the rules themselves.
    """

    def __init__(self, factories: dict[str, Callable[[], Any]]) -> None:
        self._factories = factories
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            self._values[key] = self._factories[key]()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def __contains__(self, key: object) -> bool:
        return key in self._factories

    def set(self, key: str, value: Any) -> None:
        self._factories[key] = lambda: value
        self._values[key] = value

    def materialize(self) -> dict[str, Any]:
        return {key: self[key] for key in self._factories}


def build_context(
    customer_id: str,
    state: CustomerState,
    at: float,
    event: Event | None,
    before: Before,
    suppress_after_fraud_s: float,
) -> LazyContext:
    """Everything but `scores` and `offer`, which the turn adds after scoring."""
    category = getattr(event, "category", None) or getattr(event, "genre", None)
    factories: dict[str, Callable[[], Any]] = {
        "event": lambda: event.model_dump(mode="json") if event is not None else {},
        "customer": lambda: customer_view(
            customer_id, state, at, before.days_away, suppress_after_fraud_s
        ),
        "session": lambda: session_view(state, at, category),
        "cart": lambda: cart_view(state),
        "features": lambda: feature_dict(state, at),
    }
    payment = before.payment
    if payment is not None:
        factories["payment"] = lambda: dict(zip(PAYMENT_FEATURES, payment, strict=True))
    return LazyContext(factories)
