"""Ranking the catalogue's offers for one customer: next-best-offer.

The candidates are the served catalogue's offers that are live now (active, within their
dates), on the channel asked for, of the domain asked for, that the customer is eligible
for and not yet capped on; in a catalogue of more than a few hundred offers, only those
that candidate generation picks (actors.catalog.candidates). The recommender gives
p(accept) for the offers it was trained on. An offer it has not seen yet gets a stated
prior from the offer's category the customer is most drawn to: the p of the trained offer
of that category if there is one, else the customer's best p in the offer's domain scaled
by that affinity relative to the customer's strongest. With no interest in any of its
categories: the p of a trained offer sharing one of them, else the average p of its
domain, else the average p. Ranking is by expected value p x value. The reasons say, in
words a marketer can read, what in the customer's context drove it, and name a prior as
one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.catalog.candidates import CANDIDATE_LIMIT
from actors.catalog.catalog import Catalog, built_in
from actors.catalog.offer import CatalogOffer
from actors.model.action_record import made
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


def affinities_of(state: CustomerState, at: float) -> dict[str, float]:
    """The customer's affinity to every category it keeps one for, decayed to `at`."""
    return {category: state.affinity(category, at) for category in state.affinities or ()}


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every eligible offer for one customer, best expected value first, explained on
    demand (a decision shows a few; the rest are logged as candidates)."""

    customer: Sequence[float]
    affinities: Mapping[str, float]
    cold: bool
    scored: list[tuple[CatalogOffer, float, str | None]]  # (offer, p, what p borrowed)

    def __len__(self) -> int:
        return len(self.scored)

    def explain(self, index: int) -> RankedOffer:
        offer, p, proxy = self.scored[index]
        return _explain(self.customer, self.affinities, offer, p, proxy, self.cold)

    def top(self, k: int) -> list[RankedOffer]:
        return [self.explain(i) for i in range(min(k, len(self.scored)))]


def rank(
    customer: Sequence[float],
    probabilities: Sequence[float],
    domain: str | None = None,
    *,
    catalog: Catalog | None = None,
    at: float | None = None,
    channel: str | None = None,
    audience: Audience = Audience(),
    candidate_limit: int = CANDIDATE_LIMIT,
) -> Ranking:
    """The eligible offers by expected value. `probabilities` are the recommender's, in
    the order of the offers it was trained on (`actors.model.catalog.OFFERS`). A catalogue
    larger than `candidate_limit` is narrowed to that many candidates first
    (actors.catalog.candidates)."""
    catalog = catalog or built_in()
    prior = _Prior(probabilities, audience.affinities or {})
    cold = not any(customer[_AFFINITY : _AFFINITY + len(AFFINITY_KEYS)]) and not prior.affinities
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

    scored: list[tuple[float, str, CatalogOffer, float, str | None]] = []
    candidates = catalog.candidates.select(
        admissible, prior.affinities, domain, prior.trained, candidate_limit
    )
    for offer in candidates:
        p, proxy = prior.probability(offer)
        scored.append((-(p * offer.value), offer.offer_id, offer, p, proxy))
    scored.sort(key=lambda row: (row[0], row[1]))
    return Ranking(
        customer, prior.affinities, cold, [(offer, p, proxy) for _, _, offer, p, proxy in scored]
    )


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
    """Top `k` offers by expected value (`rank`, explained)."""
    ranking = rank(
        customer,
        probabilities,
        domain,
        catalog=catalog,
        at=at,
        channel=channel,
        audience=audience,
    )
    return ranking.top(k)


class _Prior:
    """p(accept) for any offer: the model's for the offers it knows, a stated prior for
    the others (see the module's docstring)."""

    def __init__(self, probabilities: Sequence[float], affinities: Mapping[str, float]) -> None:
        self.trained = {o.offer_id: float(p) for o, p in zip(OFFERS, probabilities, strict=True)}
        self.affinities = {c: a for c, a in affinities.items() if a > 0}
        self.strongest = max(self.affinities.values(), default=0.0)
        self.by_key: dict[str, tuple[float, str]] = {}
        by_domain: dict[str, list[float]] = {}
        for offer in OFFERS:
            p = self.trained[offer.offer_id]
            if offer.affinity_key not in self.by_key or p > self.by_key[offer.affinity_key][0]:
                self.by_key[offer.affinity_key] = (p, offer.offer_id)
            by_domain.setdefault(offer.domain, []).append(p)
        self.domain_mean = {d: sum(ps) / len(ps) for d, ps in by_domain.items()}
        self.domain_best = {d: max(ps) for d, ps in by_domain.items()}
        values = list(self.trained.values())
        self.mean = sum(values) / len(values) if values else 0.0

    def probability(self, offer: CatalogOffer) -> tuple[float, str | None]:
        """p(accept), and what it was borrowed from when the model has not seen the offer."""
        if offer.offer_id in self.trained:
            return self.trained[offer.offer_id], None
        # The offer's category the customer is most drawn to decides; a broad category it
        # shares with every offer of a shop ("books") only when the customer shows no
        # interest in any of its categories.
        drawn = max((self.affinities.get(c, 0.0), c) for c in offer.categories)
        if drawn[0] > 0 and drawn[1] in self.by_key:
            p, like = self.by_key[drawn[1]]
            return p, f"new to the model: scored as {like} (same category)"
        if drawn[0] > 0:
            best = self.domain_best.get(offer.domain, max(self.trained.values(), default=0.0))
            share = drawn[0] / self.strongest
            return best * share, (
                f"new to the model: your best {offer.domain} p x your {drawn[1]} affinity "
                f"({share:.0%} of your strongest)"
            )
        known = [self.by_key[c] for c in offer.categories if c in self.by_key]
        if known:
            p, like = max(known)
            return p, f"new to the model: scored as {like} (same category)"
        if offer.domain in self.domain_mean:
            return self.domain_mean[offer.domain], (
                f"new to the model: the average of {offer.domain} offers"
            )
        return self.mean, "new to the model: the average offer"


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
    proxy: str | None,
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
    if proxy:
        reasons.append(proxy)
    reasons.append(f"p(accept)={p:.2f} x value {offer.value:.0f}")
    return RankedOffer(
        offer.offer_id, offer.title, offer.domain, category, p, p * offer.value, tuple(reasons)
    )
