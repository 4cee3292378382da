"""Ranking the catalogue's offers for one customer: next-best-offer.

The candidates are the served catalogue's offers that are live now (active, within their
dates), on the channel asked for, of the domain asked for, that the customer is eligible
for and not yet capped on. The recommender gives p(accept) for the offers it was trained
on; an offer it has not seen yet is scored as the trained offer of its category the
customer would most likely accept (or the average of its domain), and says so. Ranking is
by expected value p x value. The reasons say, in words a marketer can read, what in the
customer's context drove it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.catalog.catalog import Catalog, built_in
from actors.catalog.offer import CatalogOffer
from actors.model.catalog import AFFINITY_KEYS, OFFERS
from actors.model.features import CUSTOMER_FEATURES
from actors.model.state import CustomerState

_AFFINITY = CUSTOMER_FEATURES.index(f"affinity_{AFFINITY_KEYS[0]}")
_SESSION = CUSTOMER_FEATURES.index(f"session_{AFFINITY_KEYS[0]}")
_KEY_POS = {key: i for i, key in enumerate(AFFINITY_KEYS)}


@dataclass(frozen=True, slots=True)
class RankedOffer:
    offer_id: str
    title: str
    domain: str
    category: str
    probability: float
    expected_value: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who the offers are for, beyond the model's features: the rules' `customer` view for
    eligibility conditions, and how often each offer was already made to them."""

    customer: Mapping[str, Any] | None = None
    offered: Mapping[str, int] | None = None


def offered_counts(state: CustomerState) -> dict[str, int]:
    """How often each offer was made to the customer, over the marketing actions its
    state keeps (the last `MAX_RECENT_ACTIONS`; held-out ones were not made)."""
    counts: dict[str, int] = {}
    for record in state.recent_actions or ():
        if not record.held_out:
            counts[record.offer_id] = counts.get(record.offer_id, 0) + 1
    return counts


def rank_offers(
    customer: Sequence[float],
    probabilities: Sequence[float],
    k: int = 3,
    domain: str | None = None,
    *,
    catalog: Catalog | None = None,
    at: float | None = None,
    channel: str | None = None,
    audience: Audience = Audience(),
) -> list[RankedOffer]:
    """Top `k` offers by expected value. `probabilities` are the recommender's, in the
    order of the offers it was trained on (`actors.model.catalog.OFFERS`)."""
    catalog = catalog or built_in()
    trained = dict(zip((o.offer_id for o in OFFERS), map(float, probabilities), strict=True))
    by_key = _best_by_category(trained)
    by_domain = _mean_by_domain(trained)
    cold = not any(customer[_AFFINITY : _AFFINITY + len(AFFINITY_KEYS)])
    offered = audience.offered or {}
    scored: list[tuple[float, str, CatalogOffer, float, str | None]] = []
    for offer in catalog.offers:
        if domain is not None and offer.domain != domain:
            continue
        if channel is not None and channel not in offer.channels:
            continue
        if at is not None and not offer.live_at(at):
            continue
        if (
            offer.cap_per_customer is not None
            and offered.get(offer.offer_id, 0) >= offer.cap_per_customer
        ):
            continue
        if audience.customer is not None and not offer.eligible(audience.customer):
            continue
        p, proxy = _probability(offer, trained, by_key, by_domain)
        scored.append((-(p * offer.value), offer.offer_id, offer, p, proxy))
    scored.sort(key=lambda row: (row[0], row[1]))
    return [_explain(customer, offer, p, proxy, cold) for _, _, offer, p, proxy in scored[:k]]


def _best_by_category(trained: Mapping[str, float]) -> dict[str, tuple[float, str]]:
    best: dict[str, tuple[float, str]] = {}
    for offer in OFFERS:
        p = trained[offer.offer_id]
        if offer.affinity_key not in best or p > best[offer.affinity_key][0]:
            best[offer.affinity_key] = (p, offer.offer_id)
    return best


def _mean_by_domain(trained: Mapping[str, float]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for offer in OFFERS:
        sums.setdefault(offer.domain, []).append(trained[offer.offer_id])
    return {d: sum(ps) / len(ps) for d, ps in sums.items()}


def _probability(
    offer: CatalogOffer,
    trained: Mapping[str, float],
    by_key: Mapping[str, tuple[float, str]],
    by_domain: Mapping[str, float],
) -> tuple[float, str | None]:
    """p(accept), and what it was borrowed from when the model has not seen the offer."""
    if offer.offer_id in trained:
        return trained[offer.offer_id], None
    known = [by_key[c] for c in offer.categories if c in by_key]
    if known:
        p, like = max(known)
        return p, f"new to the model: scored as {like} (same category)"
    if offer.domain in by_domain:
        return by_domain[offer.domain], f"new to the model: the average of {offer.domain} offers"
    mean = sum(trained.values()) / len(trained) if trained else 0.0
    return mean, "new to the model: the average offer"


def _category(offer: CatalogOffer) -> str:
    """The offer's category the customer features know, else its first."""
    return next((c for c in offer.categories if c in _KEY_POS), offer.categories[0])


def _explain(
    customer: Sequence[float], offer: CatalogOffer, p: float, proxy: str | None, cold: bool
) -> RankedOffer:
    category = _category(offer)
    reasons = []
    if cold:
        reasons.append("new customer: ranked by what customers accept most")
    elif category in _KEY_POS:
        position = _KEY_POS[category]
        session_views = customer[_SESSION + position]
        if session_views:
            reasons.append(f"{int(session_views)} {category} views this session")
        affinity = customer[_AFFINITY + position]
        if affinity >= 0.5:
            reasons.append(f"{category} affinity {affinity:.1f}")
    if proxy:
        reasons.append(proxy)
    reasons.append(f"p(accept)={p:.2f} x value {offer.value:.0f}")
    return RankedOffer(
        offer.offer_id, offer.title, offer.domain, category, p, p * offer.value, tuple(reasons)
    )
