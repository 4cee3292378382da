"""Features, defined once: live actors, the scorer, the API and training all call these.

Two vectors exist:

* `features(state, at)` describes a customer at time `at` (recommendation, context);
* `payment_features(state, payment)` describes a card payment against the customer's
  history *before* the payment is applied (fraud).

`offer_rows` expands a customer vector into one row per catalogue offer for the
recommender. Any change to names, order or meaning bumps `FEATURE_SPEC_VERSION`; models
record the version they were trained on and the scorer refuses a mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from actors.model.bounds import CATEGORY_BUCKETS, CUSTOM_BUCKETS, category_bucket, decayed
from actors.model.catalog import (
    AFFINITY_KEYS,
    OFFERS,
    RISKY_MERCHANT_CATEGORIES,
    domain_of,
)
from actors.model.events import CardPayment
from actors.model.state import CustomerState

# 2: custom events per name (hashed into CUSTOM_BUCKETS) over the last week.
# 3: every category a site sends, its affinity and session views hashed into
#    CATEGORY_BUCKETS columns.
FEATURE_SPEC_VERSION = 3

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

OFFER_FEATURES: tuple[str, ...] = (
    *CUSTOMER_FEATURES,
    *(f"offer_{o.offer_id}" for o in OFFERS),
    "offer_affinity",
    "offer_affinity_share",
    "offer_session_views",
    "offer_domain_active",
)

_AFFINITY_START = CUSTOMER_FEATURES.index(f"affinity_{AFFINITY_KEYS[0]}")
_SESSION_START = CUSTOMER_FEATURES.index(f"session_{AFFINITY_KEYS[0]}")
_KEY_POS = {key: i for i, key in enumerate(AFFINITY_KEYS)}
# The columns that say a customer is active in a domain (offer_domain_active), by name.
_ORDERS, _SESSION_PRODUCTS, _CART = (
    CUSTOMER_FEATURES.index(name) for name in ("orders", "session_products", "cart_items")
)
_PAYMENTS = CUSTOMER_FEATURES.index("card_payments_log")
_CONTENT = CUSTOMER_FEATURES.index("content_views_log")
_OFFER_KEY_POS = np.array([_KEY_POS[o.affinity_key] for o in OFFERS])
_DOMAIN_COLUMN = {"retail": 0, "banking": 1, "media": 2}
_OFFER_DOMAIN = np.array([_DOMAIN_COLUMN[domain_of(o.affinity_key) or o.domain] for o in OFFERS])


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


def offer_matrix(customers: Sequence[Sequence[float]]) -> np.ndarray:
    """Recommender rows: for each customer vector, one row per catalogue offer (in
    `OFFERS` order), customers one after the other. Vectorised: the scorer builds these
    for whole batches, training for every trial."""
    base = np.asarray(customers, dtype=float).reshape(len(customers), len(CUSTOMER_FEATURES))
    n, offers = base.shape[0], len(OFFERS)
    affinities = base[:, _AFFINITY_START : _AFFINITY_START + len(AFFINITY_KEYS)]
    total = affinities.sum(axis=1, keepdims=True)
    offer_affinity = affinities[:, _OFFER_KEY_POS]  # (n, offers)
    share = np.divide(offer_affinity, total, out=np.zeros_like(offer_affinity), where=total > 0)
    session = base[:, _SESSION_START + _OFFER_KEY_POS]
    active = np.stack(
        [
            # retail, banking, media
            (base[:, _ORDERS] > 0) | (base[:, _SESSION_PRODUCTS] > 0) | (base[:, _CART] > 0),
            base[:, _PAYMENTS] > 0,
            base[:, _CONTENT] > 0,
        ],
        axis=1,
    ).astype(float)[:, _OFFER_DOMAIN]
    rows = np.empty((n, offers, len(OFFER_FEATURES)))
    rows[:, :, : base.shape[1]] = base[:, None, :]
    rows[:, :, base.shape[1] : base.shape[1] + offers] = np.eye(offers)[None, :, :]
    tail = base.shape[1] + offers
    rows[:, :, tail] = offer_affinity
    rows[:, :, tail + 1] = share
    rows[:, :, tail + 2] = session
    rows[:, :, tail + 3] = active
    return rows.reshape(n * offers, len(OFFER_FEATURES))


def offer_rows(customer: Sequence[float]) -> list[list[float]]:
    """The recommender rows of one customer, one per catalogue offer."""
    rows: list[list[float]] = offer_matrix([customer]).tolist()
    return rows


def _days_since(then: float | None, at: float) -> float:
    if then is None:
        return _NEVER_DAYS
    return min(max(0.0, (at - then) / _DAY), _NEVER_DAYS)
