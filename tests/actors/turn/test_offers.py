"""Ranking the served catalogue for one customer: live, on the channel, eligible, not
capped; p(accept) from the model, or borrowed (and said so) for an offer it has not seen."""

from __future__ import annotations

from typing import Any

from actors.catalog.catalog import Catalog, built_in
from actors.catalog.offer import CatalogOffer
from actors.model.action_record import ActionRecord
from actors.model.catalog import AFFINITY_KEYS, OFFERS
from actors.model.features import CUSTOMER_FEATURES
from actors.model.state import CustomerState
from actors.turn.offers import Audience, rank_offers, recent_offers

NOW = 2_000_000_000.0


def customer(**affinity: float) -> list[float]:
    vector = [0.0] * len(CUSTOMER_FEATURES)
    for key, value in affinity.items():
        vector[CUSTOMER_FEATURES.index(f"affinity_{key}")] = value
    return vector


def probabilities(**overrides: float) -> list[float]:
    return [overrides.get(o.offer_id, 0.1) for o in OFFERS]


def offer(offer_id: str, **fields: Any) -> CatalogOffer:
    base: dict[str, Any] = {"title": offer_id, "categories": ["books"], "domain": "retail"}
    return CatalogOffer.model_validate({"offer_id": offer_id, "value": 10.0, **base, **fields})


def ids(ranked: list[Any]) -> list[str]:
    return [r.offer_id for r in ranked]


def test_without_a_catalogue_loaded_the_built_in_offers_rank_by_expected_value() -> None:
    ranked = rank_offers(customer(books=2.0), probabilities(premium_card=0.5), k=2)
    assert ids(ranked) == ["premium_card", "travel_insurance"]  # 0.5 x 60, then 0.1 x 35
    assert ranked[0].expected_value == 0.5 * 60


def test_only_live_offers_on_the_channel_asked_for_are_candidates() -> None:
    catalog = Catalog.of(
        2,
        [
            offer("retired", active=False, value=100.0),
            offer("expired", ends_at="2000-01-01T00:00:00Z", value=90.0),
            offer("push_only", channels=["push"], value=80.0),
            offer("anywhere", value=1.0),
        ],
    )
    at_email = rank_offers(customer(), probabilities(), 5, catalog=catalog, at=NOW, channel="email")
    assert ids(at_email) == ["anywhere"]
    on_push = rank_offers(customer(), probabilities(), 5, catalog=catalog, at=NOW, channel="push")
    assert ids(on_push) == ["push_only", "anywhere"]


def test_eligibility_and_the_per_customer_cap_are_honoured() -> None:
    catalog = Catalog.of(
        2,
        [
            offer("germans", eligibility='customer.country == "DE"', value=50.0),
            offer("twice", cap_per_customer=2, value=40.0),
            offer("anyone", value=1.0),
        ],
    )

    def ranked(country: str, offered: int) -> list[str]:
        audience = Audience({"country": country}, {"twice": offered})
        return ids(rank_offers(customer(), probabilities(), 5, catalog=catalog, audience=audience))

    assert ranked("DE", 0) == ["germans", "twice", "anyone"]
    assert ranked("FR", 1) == ["twice", "anyone"]
    assert ranked("FR", 2) == ["anyone"]


def test_an_offer_made_within_the_no_repeat_window_is_not_ranked_again() -> None:
    state = CustomerState()
    state.recent_actions = [
        ActionRecord("a1", "premium_card", "r", "c", "1", NOW - 3600, False),
        ActionRecord("a2", "travel_insurance", "r", "c", "1", NOW - 5 * 86_400, False),
        ActionRecord("a3", "home_bundle", "r", "c", "1", NOW - 60, True),  # held out
    ]
    recent = recent_offers(state, NOW, 86_400)
    assert recent == {"premium_card"}
    assert recent_offers(state, NOW, 0) == frozenset()  # no window: no wait
    ranked = rank_offers(
        customer(books=2.0),
        probabilities(premium_card=0.5),
        k=1,
        audience=Audience(recent=recent),
    )
    assert ids(ranked) == ["travel_insurance"]


def test_an_offer_the_model_has_not_seen_borrows_the_p_of_its_category() -> None:
    catalog = Catalog.of(
        2,
        [
            offer("new_books", categories=["Books", "crime"], value=10.0),
            offer("new_garden", categories=["garden"], domain="retail", value=10.0),
            *built_in().offers,
        ],
    )
    p = probabilities(books_3for2=0.4)
    ranked = {r.offer_id: r for r in rank_offers(customer(), p, 20, catalog=catalog)}
    assert ranked["new_books"].probability == 0.4
    assert "new to the model: scored as books_3for2 (same category)" in ranked["new_books"].reasons
    retail = [p[i] for i, o in enumerate(OFFERS) if o.domain == "retail"]
    assert ranked["new_garden"].probability == sum(retail) / len(retail)
    assert "new to the model: the average of retail offers" in ranked["new_garden"].reasons


def test_reasons_name_the_customers_affinity_to_the_offers_category() -> None:
    catalog = Catalog.of(2, [offer("crime_books", categories=["crime", "books"])])
    (best,) = rank_offers(customer(books=3.0), probabilities(), 1, catalog=catalog)
    assert best.category == "books"  # the category the customer's features know
    assert "books affinity 3.0" in best.reasons
    assert AFFINITY_KEYS  # the fixed keys the features count today


def test_a_category_never_seen_before_today_lifts_its_offers_for_a_customer_drawn_to_it() -> None:
    catalog = Catalog.of(
        2,
        [
            offer("crime_week", categories=["crime"], domain="books", value=10.0),
            offer("cookery_club", categories=["cookery"], domain="books", value=10.0),
        ],
    )
    audience = Audience(affinities={"crime": 3.0, "cookery": 1.0})
    crime, cookery = rank_offers(customer(), probabilities(), 2, catalog=catalog, audience=audience)
    assert (crime.offer_id, cookery.offer_id) == ("crime_week", "cookery_club")
    assert crime.category == "crime"
    assert "crime affinity 3.0" in crime.reasons
    best = max(probabilities())
    assert crime.probability == best  # the customer's best p, at its strongest affinity
    assert cookery.probability == best / 3
    assert any("your cookery affinity (33% of your strongest)" in r for r in cookery.reasons)


def test_a_catalogue_names_categories_as_events_do() -> None:
    assert offer("x", categories=["Home & Garden", "home_garden"]).categories == ("home_garden",)


def test_the_category_a_customer_is_drawn_to_decides_not_a_broad_shared_one() -> None:
    # A bookshop tags every offer "books" (a built-in key): the reader's crime affinity
    # still ranks the crime offers first.
    catalog = Catalog.of(
        2,
        [
            offer("art_pick", categories=["art", "books"], domain="bookshop"),
            offer("crime_pick", categories=["crime", "books"], domain="bookshop"),
        ],
    )
    audience = Audience(affinities={"crime": 3.0})
    ranked = rank_offers(
        customer(), probabilities(books_3for2=0.05), 2, catalog=catalog, audience=audience
    )
    assert ids(ranked) == ["crime_pick", "art_pick"]
    assert ranked[1].probability == 0.05  # no interest in art: the trained books offer's p
