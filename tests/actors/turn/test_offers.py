"""Ranking the served catalogue for one customer: the offers that may be made (live, on
the channel, eligible, not capped, not made lately), the recommender's request for them,
and the ranking by expected value of its answer."""

from __future__ import annotations

from typing import Any

import pytest

from actors.catalog.catalog import Catalog, built_in
from actors.catalog.offer import CatalogOffer
from actors.model.action_record import ActionRecord
from actors.model.features import CUSTOMER_FEATURES
from actors.model.offer_features import RECOMMENDER_FEATURES, expand
from actors.model.state import CustomerState
from actors.turn.offers import Audience, eligible, rank, recent_offers, recommender_row

NOW = 2_000_000_000.0


def customer(**affinity: float) -> list[float]:
    vector = [0.0] * len(CUSTOMER_FEATURES)
    for key, value in affinity.items():
        vector[CUSTOMER_FEATURES.index(f"affinity_{key}")] = value
    return vector


def offer(offer_id: str, **fields: Any) -> CatalogOffer:
    base: dict[str, Any] = {"title": offer_id, "categories": ["books"], "domain": "retail"}
    return CatalogOffer.model_validate({"offer_id": offer_id, "value": 10.0, **base, **fields})


def ids(offers: list[CatalogOffer]) -> list[str]:
    return [o.offer_id for o in offers]


def column(matrix: Any, name: str) -> list[float]:
    return [float(x) for x in matrix[:, RECOMMENDER_FEATURES.index(name)]]


def test_without_a_catalogue_loaded_the_built_in_offers_are_the_candidates() -> None:
    assert ids(eligible()) == ids(list(built_in().offers))


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
    assert ids(eligible(catalog, at=NOW, channel="email")) == ["anywhere"]
    assert ids(eligible(catalog, at=NOW, channel="push")) == ["push_only", "anywhere"]


def test_eligibility_and_the_per_customer_cap_are_honoured() -> None:
    catalog = Catalog.of(
        2,
        [
            offer("germans", eligibility='customer.country == "DE"', value=50.0),
            offer("twice", cap_per_customer=2, value=40.0),
            offer("anyone", value=1.0),
        ],
    )

    def candidates(country: str, offered: int) -> list[str]:
        return ids(eligible(catalog, audience=Audience({"country": country}, {"twice": offered})))

    assert candidates("DE", 0) == ["germans", "twice", "anyone"]
    assert candidates("FR", 1) == ["twice", "anyone"]
    assert candidates("FR", 2) == ["anyone"]


def test_an_offer_made_within_the_no_repeat_window_is_not_a_candidate_again() -> None:
    state = CustomerState()
    state.recent_actions = [
        ActionRecord("a1", "premium_card", "r", "c", "1", NOW - 3600, False),
        ActionRecord("a2", "travel_insurance", "r", "c", "1", NOW - 5 * 86_400, False),
        ActionRecord("a3", "home_bundle", "r", "c", "1", NOW - 60, True),  # held out
    ]
    recent = recent_offers(state, NOW, 86_400)
    assert recent == {"premium_card"}
    assert recent_offers(state, NOW, 0) == frozenset()  # no window: no wait
    candidates = ids(eligible(audience=Audience(recent=recent)))
    assert "premium_card" not in candidates
    assert "travel_insurance" in candidates


def test_offers_rank_by_the_models_p_times_their_value() -> None:
    offers = [offer("cheap", value=10.0), offer("dear", value=60.0), offer("likely", value=20.0)]
    ranking = rank(customer(books=1.0), {}, offers, [0.5, 0.05, 0.4])
    best = ranking.top(3)
    assert [r.offer_id for r in best] == ["likely", "cheap", "dear"]  # 8, 5, 3
    assert best[0].expected_value == pytest.approx(0.4 * 20)
    assert "p(accept)=0.40 x value 20" in best[0].reasons
    with pytest.raises(ValueError, match="2 probabilities for 3 offers"):
        rank(customer(), {}, offers, [0.1, 0.2])


def test_the_request_describes_each_offer_and_the_customers_relation_to_it() -> None:
    # A bookshop's categories, first sent today: no code knows them.
    offers = [
        offer("crime_week", categories=["crime"], domain="books", value=12.0, price=9.99),
        offer("cookery_club", categories=["cookery"], domain="books", value=10.0),
    ]
    row = recommender_row(customer(), {"crime": 3.0, "cookery": 1.0}, offers)
    matrix, counts = expand([row])
    assert counts == [2]
    assert column(matrix, "offer_affinity") == [3.0, 1.0]
    assert column(matrix, "offer_affinity_share") == [0.75, 0.25]
    assert column(matrix, "offer_has_price") == [1.0, 0.0]
    assert column(matrix, "offer_domain_other") == [1.0, 1.0]
    # No column names an offer: the rows differ only in what the offers are.
    assert not any(name.startswith("offer_crime") for name in RECOMMENDER_FEATURES)


def test_reasons_name_the_customers_affinity_to_the_offers_category() -> None:
    crime_books = offer("crime_books", categories=["crime", "books"])
    (best,) = rank(customer(books=3.0), {}, [crime_books], [0.3]).top(1)
    assert best.category == "books"  # the category the customer's features know
    assert "books affinity 3.0" in best.reasons
    (drawn,) = rank(customer(), {"crime": 2.5}, [crime_books], [0.3]).top(1)
    assert drawn.category == "crime"  # the one it is drawn to, whatever the string
    assert "crime affinity 2.5" in drawn.reasons


def test_a_catalogue_names_categories_as_events_do() -> None:
    assert offer("x", categories=["Home & Garden", "home_garden"]).categories == ("home_garden",)
