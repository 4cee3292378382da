"""The dicts that rule conditions and templates read during a turn.

Built from the customer's state after the event is applied (plus a few values taken
before it, such as how long the customer was away). Plain dicts of plain values: the
condition language can only walk dicts and lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from actors.model.consent import CHANNELS, near_fraud_alert
from actors.model.events import ANON_PREFIX, Event
from actors.model.features import PAYMENT_FEATURES, feature_dict
from actors.model.state import CustomerState
from actors.rules.segments import Segment, SegmentView

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Before:
    """What the turn must know about the state before the event changed it."""

    days_away: float
    payment: list[float] | None


def _days(seconds: float) -> float:
    return seconds / _DAY


class _View(Mapping[str, Any]):
    """A read-only dict over a state whose values are computed when read.

    Rule conditions read a field or two; computing every field of every view for every
    turn would cost more than the rules.
    """

    FIELDS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __getitem__(self, key: str) -> Any:
        return self.FIELDS[key](self)

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get goes through __getitem__ and a KeyError; conditions call this a lot.
        compute = self.FIELDS.get(key)
        return compute(self) if compute is not None else default

    def __iter__(self) -> Iterator[str]:
        return iter(self.FIELDS)

    def __len__(self) -> int:
        return len(self.FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {key: self[key] for key in self.FIELDS}


class CustomerView(_View):
    __slots__ = ("at", "customer_id", "days_away", "state", "suppress_s")

    def __init__(
        self,
        customer_id: str,
        state: CustomerState,
        at: float,
        days_away: float,
        suppress_after_fraud_s: float,
    ) -> None:
        self.customer_id = customer_id
        self.state = state
        self.at = at
        self.days_away = days_away
        self.suppress_s = suppress_after_fraud_s

    FIELDS: ClassVar[dict[str, Callable[[CustomerView], Any]]] = {
        "customer_id": lambda v: v.customer_id,
        "is_anonymous": lambda v: v.customer_id.startswith(ANON_PREFIX),
        "orders": lambda v: v.state.orders,
        "spend": lambda v: round(v.state.spend, 2),
        "avg_order_value": lambda v: (
            round(v.state.spend / v.state.orders, 2) if v.state.orders else 0.0
        ),
        "days_since_purchase": lambda v: (
            _days(v.at - v.state.last_purchase_at) if v.state.last_purchase_at is not None else None
        ),
        "days_away": lambda v: v.days_away,
        "tenure_days": lambda v: (
            _days(v.at - v.state.first_seen) if v.state.first_seen is not None else 0.0
        ),
        "cart_items": lambda v: v.state.cart_items,
        "cart_value": lambda v: round(v.state.cart_value, 2),
        # True when a cart line's price is unknown (an add without one the catalogue
        # could not fill): `cart_value` then counts less than the cart holds.
        "cart_value_partial": lambda v: v.state.cart_value_partial,
        # Marketing not withdrawn on every channel (each send still asks its own
        # channel's consent: actors.model.consent); `consent` the explicit answers.
        "consent_marketing": lambda v: any(
            (v.state.consent or {}).get(f"{c}.marketing", True) for c in CHANNELS
        ),
        "consent": lambda v: dict(v.state.consent or {}),
        "email": lambda v: v.state.email,
        "timezone": lambda v: v.state.timezone,
        # The country the customer was last seen in (events' context), None if never.
        "country": lambda v: v.state.countries[-1] if v.state.countries else None,
        "traits": lambda v: dict(v.state.traits or {}),
        "usual_amount": lambda v: (
            round(math.expm1(v.state.pay_mean), 2) if v.state.pay_count else None
        ),
        "marketing_suppressed": lambda v: near_fraud_alert(
            v.state.fraud_alert_at, v.at, v.suppress_s
        ),
        "top_affinity": lambda v: v.state.top_affinity(v.at),
        "content_views": lambda v: v.state.content_views,
        "card_payments": lambda v: v.state.pay_count,
        "failed_logins": lambda v: v.state.failed_logins,
        "offers_shown": lambda v: v.state.offers_shown,
        "offer_clicks": lambda v: v.state.offer_clicks,
        "offer_conversions": lambda v: v.state.offer_conversions,
        "chargebacks": lambda v: v.state.chargebacks,
        "fraud_reports": lambda v: v.state.fraud_reports,
        # Days since a payment of theirs was confirmed as fraud (report or fraud chargeback).
        "days_since_confirmed_fraud": lambda v: (
            _days(v.at - v.state.fraud_confirmed_at)
            if v.state.fraud_confirmed_at is not None
            else None
        ),
    }


class SessionView(_View):
    __slots__ = ("at", "category", "state")

    def __init__(self, state: CustomerState, at: float, category: str | None) -> None:
        self.state = state
        self.at = at
        self.category = category

    FIELDS: ClassVar[dict[str, Callable[[SessionView], Any]]] = {
        "index": lambda v: v.state.session_index,
        "events": lambda v: v.state.events_total,
        "page_views": lambda v: v.state.session_page_views,
        "products": lambda v: len(v.state.session_products or ()),
        "categories": lambda v: dict(v.state.session_categories or {}),
        "category_views": lambda v: (
            (v.state.session_categories or {}).get(v.category, 0) if v.category else 0
        ),
        "content": lambda v: len(v.state.session_content or ()),
        "duration_min": lambda v: max(
            0.0,
            (v.at - (v.state.session_start if v.state.session_start is not None else v.at)) / 60,
        ),
        "recent_products": lambda v: list(v.state.session_products or ()),
        "recent_content": lambda v: list(v.state.session_content or ()),
        # custom event name -> times this session: session.custom["Checkout Step Viewed"]
        "custom": lambda v: dict(v.state.session_custom or {}),
    }


def customer_view(
    customer_id: str,
    state: CustomerState,
    at: float,
    days_away: float,
    suppress_after_fraud_s: float,
) -> dict[str, Any]:
    return CustomerView(customer_id, state, at, days_away, suppress_after_fraud_s).to_dict()


def session_view(state: CustomerState, at: float, category: str | None) -> dict[str, Any]:
    return SessionView(state, at, category).to_dict()


def cart_view(state: CustomerState) -> dict[str, Any]:
    return {
        "items": state.cart_items,
        "value": round(state.cart_value, 2),
        "partial": state.cart_value_partial,
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

    def get(self, key: str, default: Any = None) -> Any:
        # Without Mapping.get's KeyError round trip: conditions call this a lot.
        return self[key] if key in self._factories else default

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
    segments: tuple[Segment, ...] = (),
) -> LazyContext:
    """Everything but `scores` and `offer`, which the turn adds after scoring."""
    category = getattr(event, "category", None) or getattr(event, "genre", None)
    factories: dict[str, Callable[[], Any]] = {
        "event": lambda: event.model_dump(mode="json") if event is not None else {},
        "customer": lambda: CustomerView(
            customer_id, state, at, before.days_away, suppress_after_fraud_s
        ),
        "session": lambda: SessionView(state, at, category),
        "cart": lambda: cart_view(state),
        "features": lambda: feature_dict(state, at),
    }
    payment = before.payment
    if payment is not None:
        factories["payment"] = lambda: dict(zip(PAYMENT_FEATURES, payment, strict=True))
    context = LazyContext(factories)
    # Segments read the customer, session and cart of this same context.
    factories["segment"] = lambda: SegmentView(segments, context)
    return context
