"""Candidate generation: a catalogue of any size narrowed to the offers worth ranking for
one customer, and a small one ranked in full."""

from __future__ import annotations

import time

from actors.catalog.candidates import CANDIDATE_LIMIT, PER_CATEGORY, CandidateIndex
from actors.catalog.catalog import Catalog
from actors.catalog.offer import CatalogOffer
from actors.turn.offers import Audience, eligible


def offer(n: int, category: str, value: float = 10.0, **fields: object) -> CatalogOffer:
    return CatalogOffer.model_validate(
        {
            "offer_id": f"o{n:05d}",
            "title": f"Offer {n}",
            "categories": [category],
            "domain": "bookshop",
            "value": value,
            **fields,
        }
    )


def shelves(count: int, per_shelf: int) -> list[CatalogOffer]:
    """`count` categories of `per_shelf` offers, the later shelves the more valuable."""
    return [
        offer(s * per_shelf + n, f"shelf-{s}", value=10.0 + s + n / per_shelf)
        for s in range(count)
        for n in range(per_shelf)
    ]


def everything(_: CatalogOffer) -> bool:
    return True


def test_a_catalogue_within_the_limit_is_ranked_in_full_in_its_own_order() -> None:
    offers = shelves(3, 10)
    index = CandidateIndex(offers)
    assert index.select(everything, {"shelf-0": 1.0}) == offers
    odd = index.select(lambda o: int(o.offer_id[1:]) % 2 == 1, {})
    assert odd == offers[1::2]


def test_a_large_catalogue_gives_the_customers_strongest_categories_then_the_most_valuable() -> (
    None
):
    offers = shelves(100, 100)  # 10,000 offers; shelf-0 is the least valuable
    index = CandidateIndex(offers)
    chosen = index.select(everything, {"shelf-0": 2.0, "shelf-1": 0.5, "nowhere": 9.0})
    assert len(chosen) == CANDIDATE_LIMIT
    ids = [o.offer_id for o in chosen]
    assert len(set(ids)) == len(ids)
    # The customer's categories first, strongest first, the most valuable of each.
    first = [o for o in chosen if o.categories == ("shelf-0",)]
    assert len(first) == PER_CATEGORY
    assert first == sorted(offers[:100], key=lambda o: -o.value)[:PER_CATEGORY]
    assert chosen[:PER_CATEGORY] == first
    assert sum(o.categories == ("shelf-1",) for o in chosen) == PER_CATEGORY
    # Then the most valuable offers anyone could be made.
    rest = chosen[2 * PER_CATEGORY :]
    assert all(o.categories[0] in {"shelf-99", "shelf-98"} for o in rest)


def test_an_offer_that_cannot_be_made_never_takes_a_place() -> None:
    offers = shelves(50, 100)
    expired = [offer(90_000 + n, "shelf-0", value=1_000.0, active=False) for n in range(400)]
    index = CandidateIndex(offers + expired)
    chosen = index.select(lambda o: o.active, {"shelf-0": 1.0})
    assert len(chosen) == CANDIDATE_LIMIT
    assert all(o.active for o in chosen)
    assert sum(o.categories == ("shelf-0",) for o in chosen) == PER_CATEGORY


def test_the_fill_keeps_to_the_domain_asked_for_and_the_trained_offers_are_always_there() -> None:
    books = shelves(40, 100)
    banking = [
        CatalogOffer(
            offer_id=f"bank-{n}", title="Card", categories=("cards",), domain="banking", value=5.0
        )
        for n in range(20)
    ]
    index = CandidateIndex(books + banking)
    only_banking = index.select(lambda o: o.domain == "banking", {}, domain="banking")
    assert {o.offer_id for o in only_banking} == {o.offer_id for o in banking}


def test_the_candidates_of_ten_thousand_offers_hold_the_shelf_the_customer_browses() -> None:
    # Every shelf is worth more than shelf-3, the one the customer browses: chosen by value
    # alone, none of its offers would be scored.
    offers = [
        offer(s * 100 + n, f"shelf-{s}", value=20.0 if s != 3 else 10.0)
        for s in range(100)
        for n in range(100)
    ]
    catalog = Catalog.of(1, offers)
    audience = Audience(customer={}, affinities={"shelf-3": 4.0})
    chosen = eligible(catalog, at=time.time(), audience=audience)
    assert len(chosen) == CANDIDATE_LIMIT
    assert sum(o.categories == ("shelf-3",) for o in chosen) == PER_CATEGORY
