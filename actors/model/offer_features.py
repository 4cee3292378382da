"""The recommender's rows, defined once: one per customer and offer, from the customer
vector, the customer's category affinities and the offer's own attributes. Never the
offer's id: a model trained on yesterday's offers scores an offer added this morning, in
a taxonomy it has never seen, from what the offer is and how the customer relates to it.

A row is `CUSTOMER_FEATURES`, then `OFFER_ATTRIBUTES` (what the offer is: its value, its
price, its domain, its categories hashed into buckets), then `PAIR_FEATURES` (how this
customer relates to it: the customer's affinity to the offer's categories, that
affinity's share of all the customer's, the session's views of its categories, and
whether the customer is active in its domain).

Over the wire, a recommender request carries one row per customer: the customer vector
followed by one block (`OFFER_ATTRIBUTES` then `PAIR_FEATURES`) per candidate offer; the
scorer expands it (`expand`) and answers one probability per block, in the blocks' order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from actors.model.bounds import CATEGORY_BUCKETS, category_bucket
from actors.model.features import CUSTOMER_FEATURES
from actors.model.state import CustomerState

KNOWN_DOMAINS = ("retail", "banking", "media")

OFFER_ATTRIBUTES: tuple[str, ...] = (
    "offer_value_log",
    "offer_price_log",
    "offer_has_price",
    *(f"offer_domain_{domain}" for domain in KNOWN_DOMAINS),
    "offer_domain_other",
    *(f"offer_category_{bucket}" for bucket in range(CATEGORY_BUCKETS)),
)
PAIR_FEATURES: tuple[str, ...] = (
    "offer_affinity",
    "offer_affinity_share",
    "offer_session_views",
    "offer_domain_active",
)
RECOMMENDER_FEATURES: tuple[str, ...] = (*CUSTOMER_FEATURES, *OFFER_ATTRIBUTES, *PAIR_FEATURES)
CUSTOMER_WIDTH = len(CUSTOMER_FEATURES)
BLOCK_WIDTH = len(OFFER_ATTRIBUTES) + len(PAIR_FEATURES)

_COLUMN = {name: i for i, name in enumerate(CUSTOMER_FEATURES)}
_SESSION_CATEGORY = _COLUMN["session_category_0"]
_ORDERS, _SESSION_PRODUCTS, _CART = (
    _COLUMN[name] for name in ("orders", "session_products", "cart_items")
)
_PAYMENTS, _CONTENT = _COLUMN["card_payments_log"], _COLUMN["content_views_log"]
_OFFER_CATEGORY = OFFER_ATTRIBUTES.index("offer_category_0")


class Offer(Protocol):
    """What the rows read of an offer (a catalogue offer is one)."""

    @property
    def value(self) -> float: ...
    @property
    def price(self) -> float | None: ...
    @property
    def domain(self) -> str: ...
    @property
    def categories(self) -> tuple[str, ...]: ...


def offer_attributes(offer: Offer) -> list[float]:
    """The offer's `OFFER_ATTRIBUTES` (the same for every customer: cached per offer by
    the catalogue)."""
    domains = [1.0 if offer.domain == domain else 0.0 for domain in KNOWN_DOMAINS]
    buckets = [0.0] * CATEGORY_BUCKETS
    for category in offer.categories:
        buckets[category_bucket(category)] = 1.0
    return [
        math.log1p(max(offer.value, 0.0)),
        math.log1p(offer.price) if offer.price is not None else 0.0,
        1.0 if offer.price is not None else 0.0,
        *domains,
        0.0 if any(domains) else 1.0,
        *buckets,
    ]


def affinities_at(state: CustomerState, at: float) -> dict[str, float]:
    """The customer's affinity to every category it keeps one for, decayed to `at`."""
    return {category: state.affinity(category, at) for category in state.affinities or ()}


def pair_features(
    customer: Sequence[float],
    affinities: Mapping[str, float],
    total: float,
    offer: Offer,
    attributes: Sequence[float],
) -> list[float]:
    """How the customer relates to the offer (`PAIR_FEATURES`); `total` is the sum of the
    customer's affinities, `attributes` the offer's `offer_attributes` (its category
    buckets are read there, not hashed again)."""
    affinity = max((affinities.get(c, 0.0) for c in offer.categories), default=0.0)
    views = sum(
        customer[_SESSION_CATEGORY + b]
        for b in range(CATEGORY_BUCKETS)
        if attributes[_OFFER_CATEGORY + b]
    )
    if offer.domain == "banking":
        active = customer[_PAYMENTS] > 0
    elif offer.domain == "media":
        active = customer[_CONTENT] > 0
    else:  # retail, and a site's own domains: buying is the activity
        active = customer[_ORDERS] > 0 or customer[_SESSION_PRODUCTS] > 0 or customer[_CART] > 0
    return [affinity, affinity / total if total > 0 else 0.0, float(views), float(active)]


def request_row(
    customer: Sequence[float],
    affinities: Mapping[str, float],
    offers: Sequence[Offer],
    attributes: Sequence[Sequence[float]] | None = None,
) -> list[float]:
    """One customer's recommender request: its vector, then a block per offer.
    `attributes`, when given, are the offers' `offer_attributes` computed before."""
    total = sum(affinities.values())
    row = list(customer)
    for i, offer in enumerate(offers):
        described = attributes[i] if attributes is not None else offer_attributes(offer)
        row.extend(described)
        row.extend(pair_features(customer, affinities, total, offer, described))
    return row


def blocks_in(row: Sequence[float]) -> int:
    """How many offers a request row asks about; ValueError if it is not whole."""
    extra = len(row) - CUSTOMER_WIDTH
    if extra < 0 or extra % BLOCK_WIDTH:
        raise ValueError(
            f"a recommender row is {CUSTOMER_WIDTH} customer features and blocks of "
            f"{BLOCK_WIDTH}; got {len(row)} values"
        )
    return extra // BLOCK_WIDTH


def expand(rows: Sequence[Sequence[float]]) -> tuple[np.ndarray, list[int]]:
    """The model's input for request rows: one row of `RECOMMENDER_FEATURES` per block,
    the rows' blocks one after the other; and how many blocks each row had."""
    counts = [blocks_in(row) for row in rows]
    matrix = np.empty((sum(counts), len(RECOMMENDER_FEATURES)))
    at = 0
    for row, count in zip(rows, counts, strict=True):
        if not count:
            continue
        values = np.asarray(row, dtype=float)
        matrix[at : at + count, :CUSTOMER_WIDTH] = values[:CUSTOMER_WIDTH]
        matrix[at : at + count, CUSTOMER_WIDTH:] = values[CUSTOMER_WIDTH:].reshape(
            count, BLOCK_WIDTH
        )
        at += count
    return matrix, counts


def pair_rows(
    customer: Sequence[float], affinities: Mapping[str, float], offers: Sequence[Offer]
) -> np.ndarray:
    """The model's input for one customer and `offers` (training, offline evaluation)."""
    return expand([request_row(customer, affinities, offers)])[0]
