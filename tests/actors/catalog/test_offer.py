"""An offer of the catalogue: validated when loaded, live by its flag and dates, eligible
by its condition over the customer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from actors.catalog.offer import CatalogOffer


def offer(**fields: Any) -> CatalogOffer:
    base: dict[str, Any] = {
        "offer_id": "crime_week",
        "title": "Crime week: 3 for 2",
        "categories": ["Crime", " fiction"],
        "domain": "books",
        "value": 4.5,
    }
    return CatalogOffer.model_validate({**base, **fields})


def test_categories_are_the_sites_own_trimmed_and_lower_cased() -> None:
    assert offer().categories == ("crime", "fiction")


def test_an_offer_is_live_when_active_and_within_its_dates() -> None:
    dated = offer(starts_at="2026-12-01T00:00:00Z", ends_at="2026-12-08T00:00:00Z")
    inside = datetime(2026, 12, 5, tzinfo=UTC).timestamp()
    assert dated.live_at(inside)
    assert not dated.live_at(datetime(2026, 11, 30, tzinfo=UTC).timestamp())
    assert not dated.live_at(datetime(2026, 12, 8, tzinfo=UTC).timestamp())  # ends_at excluded
    assert not offer(active=False).live_at(inside)


def test_eligibility_reads_the_customer_as_rules_do() -> None:
    german_buyers = offer(eligibility='customer.orders >= 1 and customer.country == "DE"')
    assert german_buyers.eligible({"orders": 2, "country": "DE"})
    assert not german_buyers.eligible({"orders": 0, "country": "DE"})
    assert not german_buyers.eligible({"orders": 3, "country": "FR"})
    assert offer().eligible({})  # no condition: everyone


def test_eligibility_may_name_a_segment_of_the_rules_in_force() -> None:
    for_repeat_buyers = offer(eligibility='segment.repeat_buyers and customer.country == "DE"')
    assert for_repeat_buyers.eligible({"country": "DE"}, {"repeat_buyers": True})
    assert not for_repeat_buyers.eligible({"country": "DE"}, {})
    # A segment no rules file defines holds for no one: the offer goes to nobody.
    assert not offer(eligibility="segment.retired").eligible({}, {"repeat_buyers": True})


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"eligibility": "customer.nope > 1"}, "eligibility", "unknown customer field 'nope'"),
        ({"eligibility": "scores.fraud > 1"}, "eligibility", "only customer.<field>"),
        ({"eligibility": "segment"}, "eligibility", "name the segment"),
        ({"eligibility": "customer.orders >"}, "eligibility", "position"),
        ({"value": -1}, "value", "greater than or equal to 0"),
        ({"categories": []}, "categories", "at least 1"),
        ({"channels": ["fax"]}, "channels", "fax"),
        ({"starts_at": "2026-12-01T00:00:00"}, "starts_at", "time zone"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"offer_id": "has space"}, "offer_id", "pattern"),
    ],
)
def test_a_bad_offer_is_refused_naming_its_field(
    fields: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        offer(**fields)
    errors = caught.value.errors()
    assert errors[0]["loc"][0] == field, errors
    assert says in str(caught.value)


def test_an_offer_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationError, match="ends_at must be after starts_at"):
        offer(starts_at="2026-12-08T00:00:00Z", ends_at="2026-12-01T00:00:00Z")
