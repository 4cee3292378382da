"""A large catalogue for the benchmarks: the demo's offers, and the rest spread over the
demo's categories and 200 more of a site's own, a fifth of them with an eligibility
condition and a twentieth expired (bench/nbo_latency.py, bench/candidates.py)."""

from __future__ import annotations

from actors.catalog.catalog import DEMO_FILE
from actors.catalog.offer import CatalogOffer
from actors.catalog.parsing import read_catalog_file
from actors.model.catalog import AFFINITY_KEYS, domain_of

SHELVES = [*AFFINITY_KEYS, *(f"shelf-{n}" for n in range(200))]


def large_catalog(size: int) -> list[CatalogOffer]:
    """The demo's offers and `size - 15` more."""
    offers = read_catalog_file(DEMO_FILE)
    for n in range(max(0, size - len(offers))):
        category = SHELVES[n % len(SHELVES)]
        offers.append(
            CatalogOffer.model_validate(
                {
                    "offer_id": f"gen-{n:05d}",
                    "title": f"{category} pick {n}",
                    "categories": [category, f"shelf-{n % 37}"],
                    "domain": domain_of(category) or "retail",
                    "value": 5.0 + (n * 7919) % 60,
                    "price": 10.0 + n % 90,
                    "eligibility": "customer.orders >= 1" if n % 5 == 0 else None,
                    "ends_at": "2026-01-01T00:00:00Z" if n % 20 == 0 else None,
                }
            )
        )
    return offers
