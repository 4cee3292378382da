"""The registry over HTTP, without Ray: listings, alias changes by the admin token only,
a missing version 404, a refused change 409, a scorer that cannot answer reported."""

from __future__ import annotations

import asyncio

from actors.model.feature_bins import FeatureCounter
from actors.model.features import PAYMENT_FEATURES
from tests.serving.web.conftest import ADMIN, READ, Fakes
from tests.support import metric


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


def _with_reference(api: Fakes) -> None:
    counter = FeatureCounter(PAYMENT_FEATURES)
    usual = [0.0] * len(PAYMENT_FEATURES)
    counter.observe([usual] * 1000)
    api.registry.data_of[("fraud", 1)] = {
        "reference": {
            "feature_names": list(PAYMENT_FEATURES),
            "features": counter.to_list(),
            "scores": [1000] + [0] * 10,
            "rows": 1000,
        }
    }


def test_drift_compares_the_champions_live_window_with_its_training_window(
    api: Fakes,
) -> None:
    _with_reference(api)
    moved = [0.0] * len(PAYMENT_FEATURES)
    moved[PAYMENT_FEATURES.index("new_country")] = 1.0
    live = FeatureCounter(PAYMENT_FEATURES)
    live.observe([moved] * 400)
    scores = {"fraud": {"counts": [400] + [0] * 10}}
    asyncio.run(api.feature_series.record(0.0, {"feature_counts": {}}))
    figures = {"feature_counts": {"fraud": live.to_list()}, "score_distributions": scores}
    asyncio.run(api.feature_series.record(3600.0, figures))
    body = api.request("GET", "/v1/models/fraud/drift?window=1h", READ).json()
    assert body["version"] == 1
    assert body["drifted_features"] == ["new_country"]
    assert body["features"]["amount_log"] == 0.0
    assert body["score"] == 0.0
    assert body["drifted"] is True
    metrics = api.request("GET", "/metrics", READ).text
    assert metric(metrics, "engage_feature_psi", model="fraud", feature="new_country")
    assert metric(metrics, "engage_model_score_training_psi", model="fraud") == 0


def test_drift_without_a_champion_or_a_training_window_or_redis_says_why(api: Fakes) -> None:
    assert api.request("GET", "/v1/models/nothing/drift", READ).status_code == 404
    untrained = api.request("GET", "/v1/models/fraud/drift", READ)
    assert untrained.status_code == 409
    assert "no training window" in untrained.json()["detail"]
    _with_reference(api)
    api.feature_series.down = True
    assert api.request("GET", "/v1/models/fraud/drift", READ).status_code == 503
    assert api.request("GET", "/v1/models/fraud/drift?window=soon", READ).status_code == 422
