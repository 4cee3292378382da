"""The catalogue over HTTP, without Ray: what is served, one offer changed or retired by
an admin key (a new version this replica serves before it answers), a rollback, and
next-best-offer ranking the served catalogue."""

from __future__ import annotations

from typing import Any

from actors.config import ActorConfig
from actors.model.state import CustomerState
from actors.model.state_format import state_to_json
from actors.rules.ruleset import parse_rules
from actors.storage.slots import slot_of
from tests.serving.web.conftest import ADMIN, READ, WRITE, Fakes
from tests.support import T0, event

CRIME = {
    "offer_id": "crime_week",
    "title": "Crime week: 3 for 2",
    "categories": ["crime", "fiction"],
    "domain": "books",
    "value": 500.0,  # worth more than any demo offer: it ranks first once served
}


def put(api: Fakes, body: dict[str, Any], key: str = ADMIN, offer_id: str | None = None) -> Any:
    path = f"/v1/catalog/offers/{offer_id or body['offer_id']}"
    return api.request("PUT", path, key, json=body)


def offers(api: Fakes, query: str = "") -> list[str]:
    body = api.request("GET", f"/v1/catalog/offers{query}", READ).json()
    return [o["offer_id"] for o in body["offers"]]


def test_the_built_in_offers_are_served_until_a_catalogue_is_loaded(api: Fakes) -> None:
    body = api.request("GET", "/v1/catalog", READ).json()
    assert (body["version"], body["offers"]) == (0, 15)
    assert len(offers(api)) == 15


def test_an_offer_put_is_served_at_once_and_next_best_offer_ranks_it(api: Fakes) -> None:
    answer = put(api, CRIME)
    assert answer.status_code == 200
    assert answer.json() == {"version": 1, "added": ["crime_week"], "changed": [], "removed": []}
    assert "crime_week" in offers(api, "?category=Crime")
    nbo = api.request("GET", "/v1/customers/c1/next-best-offer?k=1", READ).json()
    (best,) = nbo["offers"]
    assert best["offer_id"] == "crime_week"
    assert best["domain"] == "books"
    # Scored by the recommender like any offer: the fake's p for all but the first offer it
    # is asked about, which crime_week, put last, is not.
    assert best["probability"] == 0.1
    audit = api.request("GET", "/v1/catalog", READ).json()["audit"]
    assert audit[0]["action"] == "put"
    assert audit[0]["by"]


def test_an_inactive_or_retired_offer_is_never_offered(api: Fakes) -> None:
    put(api, {**CRIME, "active": False})
    assert "crime_week" not in offers(api, "?live=true")
    nbo = api.request("GET", "/v1/customers/c1/next-best-offer?k=50", READ).json()
    assert "crime_week" not in {o["offer_id"] for o in nbo["offers"]}
    put(api, CRIME)
    assert api.request("DELETE", "/v1/catalog/offers/crime_week", ADMIN).status_code == 200
    nbo = api.request("GET", "/v1/customers/c1/next-best-offer?k=50", READ).json()
    assert "crime_week" not in {o["offer_id"] for o in nbo["offers"]}


def test_a_rollback_serves_the_previous_version_again(api: Fakes) -> None:
    put(api, CRIME)
    answer = api.request("POST", "/v1/catalog/rollback", ADMIN)
    assert answer.status_code == 200
    assert answer.json()["removed"] == ["crime_week"]
    assert "crime_week" not in offers(api)
    refused = api.request("POST", "/v1/catalog/rollback", ADMIN)
    assert refused.status_code == 409


def test_a_bad_offer_is_a_4xx_naming_the_field(api: Fakes) -> None:
    answer = put(api, {**CRIME, "value": -1})
    assert answer.status_code == 422
    assert "value" in answer.text
    answer = put(api, {**CRIME, "eligibility": "customer.shoe_size > 40"})
    assert answer.status_code == 422
    assert "unknown customer field 'shoe_size'" in answer.text
    mismatch = put(api, CRIME, offer_id="other")
    assert mismatch.status_code == 422
    assert mismatch.json()["fields"][0]["field"] == "body.offer_id"
    assert api.request("DELETE", "/v1/catalog/offers/nope", ADMIN).status_code == 404


def test_next_best_offer_refuses_a_domain_no_offer_is_of(api: Fakes) -> None:
    answer = api.request("GET", "/v1/customers/c1/next-best-offer?domain=space", READ)
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == "query.domain"
    put(api, {**CRIME, "domain": "space"})
    answer = api.request("GET", "/v1/customers/c1/next-best-offer?domain=space", READ)
    assert answer.status_code == 200
    assert [o["offer_id"] for o in answer.json()["offers"]] == ["crime_week"]


def test_only_admin_keys_change_the_catalogue(api: Fakes) -> None:
    assert put(api, CRIME, key=READ).status_code == 403
    assert put(api, CRIME, key=WRITE).status_code == 403
    assert api.request("GET", "/v1/catalog/offers", WRITE).status_code == 403


def test_a_change_while_redis_is_out_of_reach_is_a_503_and_changes_nothing(api: Fakes) -> None:
    from actors.errors import StoreUnavailableError

    def refuse(*_: Any) -> Any:
        raise StoreUnavailableError("catalog", "Connection refused")

    api.catalog_store.put_offer = refuse  # type: ignore[method-assign,assignment]
    answer = put(api, CRIME)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"
    assert "crime_week" not in offers(api)  # the version in hand keeps serving


def test_an_offer_for_a_segment_goes_to_its_members_only(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.ruleset = lambda: parse_rules(
        'version: 1\nsegments: {repeat_buyers: "customer.orders >= 2"}\nrules: []\n'
    )
    put(api, {**CRIME, "eligibility": "segment.repeat_buyers"})
    state = CustomerState()
    for n in range(2):
        state.apply(event("purchase", customer="c2", order_id=f"o{n}", at=T0 + n))
    api.states.states[(slot_of("c2", ActorConfig().slots), "c2")] = (1, state_to_json(state))

    def best(customer: str) -> str:
        nbo = api.request("GET", f"/v1/customers/{customer}/next-best-offer?k=1", READ).json()
        return str(nbo["offers"][0]["offer_id"])

    assert best("c2") == "crime_week"
    assert best("c1") != "crime_week"  # not a repeat buyer
