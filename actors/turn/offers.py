"""Ranking the catalogue's offers for one customer: next-best-offer, and a rule's `offer.*`.

Three steps around one request to the recommender:

1. `eligible`: the served catalogue's offers that are live now (active, within their
   dates), on the channel asked for, of the domain asked for, that the customer is
   eligible for, not capped on and not made within the no-repeat window; in a catalogue
   of more than a few hundred offers, those candidate generation picks
   (actors.catalog.candidates);
2. `recommender_row`: the request for them. The recommender answers p(accept) for each
   from what the offer is and how the customer relates to it
   (actors.model.offer_features), never from the offer's id, so an offer added this
   morning, in a category first seen today, is scored like any other;
3. `rank`: by expected value p x value; the reasons say, in words a marketer can read,
   what in the customer's context drove it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.catalog.candidates import CANDIDATE_LIMIT
from actors.catalog.catalog import Catalog, built_in
from actors.catalog.offer import CatalogOffer
from actors.model.action_record import made
from actors.model.catalog import AFFINITY_KEYS
from actors.model.features import CUSTOMER_FEATURES
from actors.model.offer_features import request_row
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
    # The customer's affinity to each category it showed interest in (any site category,
    # actors.model.state), decayed to now.
    affinities: Mapping[str, float] | None = None
    # `segment.<name>` for eligibility conditions: the segments the customer is in.
    segments: Mapping[str, Any] | None = None
    # Offers made to the customer within the policy's `no_repeat_within`: not again yet.
    recent: frozenset[str] = frozenset()


def offered_counts(state: CustomerState) -> dict[str, int]:
    """How often each offer was made to the customer, ever (`CustomerState.offers_made`,
    the MAX_OFFERS_COUNTED offers made latest): what `cap_per_customer` is checked against."""
    return dict(state.offers_made or {})


def recent_offers(state: CustomerState, at: float, window_s: float) -> frozenset[str]:
    """The offers made to the customer within `window_s` before `at`, shown, ignored or
    declined alike: what `no_repeat_within` keeps from being made again."""
    if window_s <= 0:
        return frozenset()
    return frozenset(
        record.offer_id
        for record in state.recent_actions or ()
        if made(record) and at - record.at < window_s
    )


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every eligible offer for one customer, best expected value first, explained on
    demand (a decision shows a few; the rest are logged as candidates)."""

    customer: Sequence[float]
    affinities: Mapping[str, float]
    cold: bool
    scored: list[tuple[CatalogOffer, float]]  # (offer, p(accept))

    def __len__(self) -> int:
        return len(self.scored)

    def explain(self, index: int) -> RankedOffer:
        offer, p = self.scored[index]
        return _explain(self.customer, self.affinities, offer, p, self.cold)

    def top(self, k: int) -> list[RankedOffer]:
        return [self.explain(i) for i in range(min(k, len(self.scored)))]


def eligible(
    catalog: Catalog | None = None,
    domain: str | None = None,
    *,
    at: float | None = None,
    channel: str | None = None,
    audience: Audience = Audience(),
    candidate_limit: int = CANDIDATE_LIMIT,
) -> list[CatalogOffer]:
    """The offers that may be made to the customer now, to be scored (step 1). A
    catalogue larger than `candidate_limit` is narrowed to that many candidates."""
    catalog = catalog or built_in()
    offered = audience.offered or {}

    def admissible(offer: CatalogOffer) -> bool:
        if domain is not None and offer.domain != domain:
            return False
        if channel is not None and channel not in offer.channels:
            return False
        if at is not None and not offer.live_at(at):
            return False
        cap = offer.cap_per_customer
        if cap is not None and offered.get(offer.offer_id, 0) >= cap:
            return False
        if offer.offer_id in audience.recent:
            return False
        return audience.customer is None or offer.eligible(audience.customer, audience.segments)

    return catalog.candidates.select(
        admissible, audience.affinities or {}, domain, limit=candidate_limit
    )


def recommender_row(
    customer: Sequence[float], affinities: Mapping[str, float], offers: Sequence[CatalogOffer]
) -> list[float]:
    """The recommender's request for `offers` (step 2): one probability per offer back."""
    return request_row(customer, affinities, offers, [offer.attributes for offer in offers])


def rank(
    customer: Sequence[float],
    affinities: Mapping[str, float],
    offers: Sequence[CatalogOffer],
    probabilities: Sequence[float],
) -> Ranking:
    """`offers` by expected value (step 3), with the recommender's p for each."""
    if len(probabilities) != len(offers):
        raise ValueError(f"{len(probabilities)} probabilities for {len(offers)} offers")
    drawn = {c: a for c, a in affinities.items() if a > 0}
    cold = not any(customer[_AFFINITY : _AFFINITY + len(AFFINITY_KEYS)]) and not drawn
    scored = sorted(
        zip(offers, (float(p) for p in probabilities), strict=True),
        key=lambda pair: (-(pair[1] * pair[0].value), pair[0].offer_id),
    )
    return Ranking(customer, drawn, cold, scored)


def _category(offer: CatalogOffer, affinities: Mapping[str, float]) -> str:
    """The offer's category the customer is most drawn to, else one the customer features
    know, else its first."""
    drawn = max(offer.categories, key=lambda c: affinities.get(c, 0.0))
    if affinities.get(drawn, 0.0) > 0:
        return drawn
    return next((c for c in offer.categories if c in _KEY_POS), offer.categories[0])


def _explain(
    customer: Sequence[float],
    affinities: Mapping[str, float],
    offer: CatalogOffer,
    p: float,
    cold: bool,
) -> RankedOffer:
    category = _category(offer, affinities)
    reasons = []
    if cold:
        reasons.append("new customer: ranked by what customers accept most")
    else:
        if category in _KEY_POS:
            session_views = customer[_SESSION + _KEY_POS[category]]
            if session_views:
                reasons.append(f"{int(session_views)} {category} views this session")
        affinity = affinities.get(category)
        if affinity is None and category in _KEY_POS:
            affinity = customer[_AFFINITY + _KEY_POS[category]]
        if affinity is not None and affinity >= 0.5:
            reasons.append(f"{category} affinity {affinity:.1f}")
    reasons.append(f"p(accept)={p:.2f} x value {offer.value:.0f}")
    return RankedOffer(
        offer.offer_id, offer.title, offer.domain, category, p, p * offer.value, tuple(reasons)
    )
