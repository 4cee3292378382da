"""Candidate generation: the offers worth ranking for one customer, out of a catalogue of
any size.

Ranking scores every offer it is given, so a 10,000-offer catalogue ranked in full costs
tens of milliseconds per answer. A catalogue no larger than `CANDIDATE_LIMIT` is ranked in
full, as before. A larger one is narrowed first, from an index built once per catalogue
version:

1. the offers of the customer's strongest categories (`STRONGEST_CATEGORIES` of them,
   any strings a site sends), the most valuable first, `PER_CATEGORY` of each: what the
   customer is drawn to;
2. then the most valuable offers of the domain asked for (or of all), until the limit:
   what is worth most to anyone.

Every candidate has passed the caller's `admissible` test (live, channel, domain,
eligibility, caps), so an offer that cannot be made never takes a place. Retrieval is
recall, not ranking: an offer of a category the customer has never touched, worth less
than the limit's last, is not ranked for that customer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from actors.catalog.offer import CatalogOffer

CANDIDATE_LIMIT = 300
STRONGEST_CATEGORIES = 8
PER_CATEGORY = 60


class CandidateIndex:
    """One catalogue version's offers by category and by value, most valuable first."""

    def __init__(self, offers: Sequence[CatalogOffer]) -> None:
        self._offers = tuple(offers)
        by_value = sorted(self._offers, key=lambda o: (-o.value, o.offer_id))
        self._by_value = tuple(by_value)
        by_category: dict[str, list[CatalogOffer]] = {}
        by_domain: dict[str, list[CatalogOffer]] = {}
        for offer in by_value:
            for category in offer.categories:
                by_category.setdefault(category, []).append(offer)
            by_domain.setdefault(offer.domain, []).append(offer)
        self._by_category = {c: tuple(o) for c, o in by_category.items()}
        self._by_domain = {d: tuple(o) for d, o in by_domain.items()}

    def __len__(self) -> int:
        return len(self._offers)

    def select(
        self,
        admissible: Callable[[CatalogOffer], bool],
        affinities: Mapping[str, float],
        domain: str | None = None,
        limit: int = CANDIDATE_LIMIT,
    ) -> list[CatalogOffer]:
        """The admissible offers to rank: all of them when the catalogue is no larger
        than `limit`, else at most `limit` chosen as the module says."""
        if len(self._offers) <= limit:
            return [o for o in self._offers if admissible(o)]
        chosen: dict[str, CatalogOffer] = {}
        seen: set[str] = set()

        def take(offers: Sequence[CatalogOffer], quota: int) -> None:
            taken = 0
            for offer in offers:
                if taken >= quota or len(chosen) >= limit:
                    return
                if offer.offer_id in seen:
                    continue
                seen.add(offer.offer_id)
                if admissible(offer):
                    chosen[offer.offer_id] = offer
                    taken += 1

        drawn = sorted(
            (c for c, a in affinities.items() if a > 0 and c in self._by_category),
            key=lambda c: (-affinities[c], c),
        )[:STRONGEST_CATEGORIES]
        for category in drawn:
            take(self._by_category[category], PER_CATEGORY)
        fill = self._by_value if domain is None else self._by_domain.get(domain, ())
        take(fill, limit)
        return list(chosen.values())
