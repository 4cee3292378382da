"""The registry over HTTP, without Ray: listings, alias changes by the admin token only,
a missing version 404, a refused change 409, a scorer that cannot answer reported."""

from __future__ import annotations

from tests.serving.web.conftest import ADMIN, READ, Fakes


def test_the_listing_shows_versions_aliases_and_what_is_served(api: Fakes) -> None:
    body = api.request("GET", "/v1/models", READ).json()
    assert body["registry"]["fraud"]["aliases"] == {"champion": 1}
    assert [v["version"] for v in body["registry"]["fraud"]["versions"]] == [1, 2]
    assert body["scorer"]["versions"]["recommender"] == {"champion": "4"}


def test_the_listing_survives_a_scorer_that_cannot_answer(api: Fakes) -> None:
    api.scorer.down = True
    body = api.request("GET", "/v1/models", READ).json()
    assert body["scorer"] == {"error": "scorer replica unreachable"}
    assert "fraud" in body["registry"]


def test_promote_moves_the_champion(api: Fakes) -> None:
    answer = api.request("POST", "/v1/models/fraud/promote", ADMIN, json={"version": 2})
    assert answer.status_code == 200
    assert answer.json() == {"model": "fraud", "champion": 2, "challenger": None}
    assert api.registry.alias_of["fraud"]["champion"] == 2


def test_a_version_measured_worse_is_refused_409_unless_forced(api: Fakes) -> None:
    api.registry.worse.add(2)
    refused = api.request("POST", "/v1/models/fraud/promote", ADMIN, json={"version": 2})
    assert refused.status_code == 409
    assert "worse" in refused.json()["detail"]
    assert api.registry.alias_of["fraud"]["champion"] == 1
    forced = api.request(
        "POST", "/v1/models/fraud/promote", ADMIN, json={"version": 2, "force": True}
    )
    assert forced.status_code == 200
    assert api.registry.alias_of["fraud"]["champion"] == 2


def test_promoting_a_version_that_does_not_exist_is_404(api: Fakes) -> None:
    answer = api.request("POST", "/v1/models/fraud/promote", ADMIN, json={"version": 9})
    assert answer.status_code == 404
    assert api.registry.alias_of["fraud"]["champion"] == 1


def test_a_rollback_the_registry_refuses_is_409_with_its_reason(api: Fakes) -> None:
    answer = api.request("POST", "/v1/models/fraud/rollback", ADMIN)
    assert answer.status_code == 409
    assert "no earlier champion" in answer.json()["detail"]


def test_shadow_sets_and_clears_the_challenger(api: Fakes) -> None:
    on = api.request("POST", "/v1/models/fraud/shadow", ADMIN, json={"version": 2})
    assert on.json()["challenger"] == 2
    off = api.request("POST", "/v1/models/fraud/shadow", ADMIN, json={"version": None})
    assert off.json()["challenger"] is None


def test_a_read_key_cannot_change_aliases(api: Fakes) -> None:
    answer = api.request("POST", "/v1/models/fraud/promote", READ, json={"version": 2})
    assert answer.status_code == 403
    assert api.registry.alias_of["fraud"]["champion"] == 1
