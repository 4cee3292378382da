"""Features, defined once: live actors, the scorer, the API and training all call these.

Two vectors exist:

* `features(state, at)` describes a customer at time `at` (recommendation, context);
* `payment_features(state, payment)` describes a card payment against the customer's
  history *before* the payment is applied (fraud).

The recommender's rows add each candidate offer's attributes to the customer vector
(`actors.model.offer_features`). Any change to names, order or meaning bumps
`FEATURE_SPEC_VERSION`; models record the version they were trained on and the scorer
refuses a mismatch.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from actors.model.bounds import CATEGORY_BUCKETS, CUSTOM_BUCKETS, category_bucket, decayed
from actors.model.catalog import (
    AFFINITY_KEYS,
    RISKY_MERCHANT_CATEGORIES,
)
from actors.model.events import CardPayment
from actors.model.state import CustomerState

# 2: custom events per name (hashed into CUSTOM_BUCKETS) over the last week.
# 3: every category a site sends, its affinity and session views hashed into
#    CATEGORY_BUCKETS columns.
# 4: the recommender scores (customer, offer) rows of offer attributes and the customer's
#    relation to them (actors.model.offer_features), not one column per offer id.
FEATURE_SPEC_VERSION = 4

_DAY = 86_400.0
_NEVER_DAYS = 365.0

CUSTOMER_FEATURES: tuple[str, ...] = (
    "tenure_days",
    "hours_since_last_event",
    "session_page_views",
    "session_products",
    "session_content",
    "cart_items",
    "cart_value_log",
    "orders",
    "spend_log",
    "avg_order_value_log",
    "days_since_purchase",
    "content_views_log",
    "card_payments_log",
    "offers_shown",
    "offer_click_rate",
    *(f"affinity_{key}" for key in AFFINITY_KEYS),
    *(f"session_{key}" for key in AFFINITY_KEYS),
    # The site's own taxonomy: the affinity of every category the customer keeps one for
    # (actors.model.state, any string), decayed to the moment, and the category's views
    # in the session, summed per bucket of a stable hash of the category
    # (actors.model.bounds.category_bucket). A category first seen today counts today;
    # categories that share a bucket count together.
    *(f"category_{bucket}" for bucket in range(CATEGORY_BUCKETS)),
    *(f"session_category_{bucket}" for bucket in range(CATEGORY_BUCKETS)),
    # Custom events ("Checkout Step Viewed", a site's own names) in the last
    # CUSTOM_WINDOW_DAYS days, log1p of the count in each name's bucket
    # (actors.model.state.custom_bucket): a model learns what each name says without the
    # vector depending on which names a site sends.
    *(f"custom_7d_{bucket}" for bucket in range(CUSTOM_BUCKETS)),
)

PAYMENT_FEATURES: tuple[str, ...] = (
    "amount_log",
    "amount_vs_usual",
    "has_history",
    "payments_1h",
    "amount_1h_log",
    "payments_24h",
    "amount_24h_log",
    "new_country",
    "new_device",
    "dormant_days_log",
    "risky_merchant",
    "card_present",
    "night_time",
    "failed_logins",
    "tenure_days_log",
)


def features(state: CustomerState, at: float) -> list[float]:
    """The customer vector at event time `at` (names in `CUSTOMER_FEATURES`)."""
    first = state.first_seen if state.first_seen is not None else at
    last = state.last_event_at if state.last_event_at is not None else at
    spend = state.spend
    orders = state.orders
    categories = state.session_categories or {}
    row = [
        max(0.0, (at - first) / _DAY),
        min(max(0.0, (at - last) / 3600.0), 24.0 * 90),
        float(state.session_page_views),
        float(len(state.session_products or ())),
        float(len(state.session_content or ())),
        float(state.cart_items),
        math.log1p(state.cart_value),
        float(orders),
        math.log1p(spend),
        math.log1p(spend / orders) if orders else 0.0,
        _days_since(state.last_purchase_at, at),
        math.log1p(state.content_views),
        math.log1p(state.pay_count),
        float(state.offers_shown),
        state.offer_clicks / state.offers_shown if state.offers_shown else 0.0,
    ]
    row.extend(state.affinity(key, at) for key in AFFINITY_KEYS)
    row.extend(float(categories.get(key, 0)) for key in AFFINITY_KEYS)
    row.extend(_category_buckets(state, categories, at))
    row.extend(math.log1p(count) for count in state.custom_counts(at))
    return row


def _category_buckets(state: CustomerState, session: dict[str, int], at: float) -> list[float]:
    """The `category_*` then `session_category_*` columns: every kept affinity decayed to
    `at`, and every session category's views, summed into its category's bucket."""
    columns = [0.0] * (2 * CATEGORY_BUCKETS)
    if state.affinities and state.affinity_at is not None:
        # All affinities are held decayed to one moment, so one factor brings them to `at`.
        factor = decayed(1.0, state.affinity_at, max(at, state.affinity_at))
        # In key order: a state read back from the store must sum to the same bits.
        for category, value in sorted(state.affinities.items()):
            columns[category_bucket(category)] += value * factor
    for category, views in sorted(session.items()):
        columns[CATEGORY_BUCKETS + category_bucket(category)] += float(views)
    return columns


def feature_dict(state: CustomerState, at: float) -> dict[str, float]:
    return dict(zip(CUSTOMER_FEATURES, features(state, at), strict=True))


def payment_features(state: CustomerState, payment: CardPayment) -> list[float]:
    """The payment against the history *before* it (names in `PAYMENT_FEATURES`)."""
    ts = payment.ts
    amount_log = math.log1p(payment.amount)
    has_history = state.pay_count >= 3
    usual = 0.0
    if has_history:
        usual = (amount_log - state.pay_mean) / max(state.pay_std, 0.5)
    count_1h, amount_1h = state.payments_since(ts - 3600.0)
    count_24h, amount_24h = state.payments_since(ts - 86_400.0)
    countries = state.countries or []
    devices = state.devices or []
    new_country = bool(countries) and payment.country not in countries
    new_device = (
        bool(devices) and payment.device_id is not None and payment.device_id not in devices
    )
    dormant = _days_since(state.last_payment_at, ts)
    hour = datetime.fromtimestamp(ts, UTC).hour
    tenure = (ts - state.first_seen) / _DAY if state.first_seen is not None else 0.0
    return [
        amount_log,
        usual,
        1.0 if has_history else 0.0,
        float(count_1h),
        math.log1p(amount_1h),
        float(count_24h),
        math.log1p(amount_24h),
        1.0 if new_country else 0.0,
        1.0 if new_device else 0.0,
        math.log1p(dormant),
        1.0 if payment.merchant_category in RISKY_MERCHANT_CATEGORIES else 0.0,
        1.0 if payment.card_present else 0.0,
        1.0 if hour < 6 else 0.0,
        float(min(state.failed_logins, 20)),
        math.log1p(max(tenure, 0.0)),
    ]


def _days_since(then: float | None, at: float) -> float:
    if then is None:
        return _NEVER_DAYS
    return min(max(0.0, (at - then) / _DAY), _NEVER_DAYS)
