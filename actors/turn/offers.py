"""Ranking the offer catalogue for one customer: next-best-offer.

The recommender gives p(accept) per offer; ranking is by expected value p * value. The
reasons say, in words a marketer can read, what in the customer's context drove it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actors.model.catalog import AFFINITY_KEYS, OFFERS, Domain
from actors.model.features import CUSTOMER_FEATURES

_AFFINITY = CUSTOMER_FEATURES.index(f"affinity_{AFFINITY_KEYS[0]}")
_SESSION = CUSTOMER_FEATURES.index(f"session_{AFFINITY_KEYS[0]}")
_KEY_POS = {key: i for i, key in enumerate(AFFINITY_KEYS)}


@dataclass(frozen=True, slots=True)
class RankedOffer:
    offer_id: str
    title: str
    domain: Domain
    category: str
    probability: float
    expected_value: float
    reasons: tuple[str, ...]


def rank_offers(
    customer: Sequence[float],
    probabilities: Sequence[float],
    k: int = 3,
    domain: Domain | None = None,
) -> list[RankedOffer]:
    """Top `k` offers by expected value, optionally only from one domain."""
    candidates = [
        (-(p * offer.value), offer.offer_id, i)
        for i, (offer, p) in enumerate(zip(OFFERS, probabilities, strict=True))
        if domain is None or offer.domain == domain
    ]
    candidates.sort()
    cold = not any(customer[_AFFINITY : _AFFINITY + len(AFFINITY_KEYS)])
    return [_explain(customer, i, float(probabilities[i]), cold) for _, _, i in candidates[:k]]


def _explain(customer: Sequence[float], index: int, p: float, cold: bool) -> RankedOffer:
    offer = OFFERS[index]
    position = _KEY_POS[offer.affinity_key]
    reasons = []
    if cold:
        reasons.append("new customer: ranked by what customers accept most")
    else:
        session_views = customer[_SESSION + position]
        if session_views:
            reasons.append(f"{int(session_views)} {offer.affinity_key} views this session")
        affinity = customer[_AFFINITY + position]
        if affinity >= 0.5:
            reasons.append(f"{offer.affinity_key} affinity {affinity:.1f}")
    reasons.append(f"p(accept)={p:.2f} x value {offer.value:.0f}")
    return RankedOffer(
        offer.offer_id,
        offer.title,
        offer.domain,
        offer.affinity_key,
        p,
        p * offer.value,
        tuple(reasons),
    )
