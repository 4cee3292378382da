"""The registry in a real Redis: versions, aliases, safe artifacts, feature versions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from actors.errors import (
    FeatureVersionMismatchError,
    ModelError,
    NoSuchModelVersionError,
    PromotionRefusedError,
)
from actors.model.features import FEATURE_SPEC_VERSION
from serving.models import load_served
from training.registry import ModelRegistry, load_artifact

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(redis_url: str, prefix: str) -> Iterator[ModelRegistry]:
    reg = ModelRegistry(redis_url, prefix)
    yield reg
    reg.close()


def fitted() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1])


def register(registry: ModelRegistry, spec: int = FEATURE_SPEC_VERSION) -> int:
    meta = registry.register(
        "fraud",
        fitted(),
        kind="fraud",
        feature_spec_version=spec,
        metrics={"pr_auc": 0.9},
        params={"C": 1.0},
        data_fingerprint="abc",
    )
    return meta.version


def test_every_version_keeps_its_metrics_fingerprint_params_and_time(
    registry: ModelRegistry,
) -> None:
    v1, v2 = register(registry), register(registry)
    assert (v1, v2) == (1, 2)
    meta = registry.get("fraud", 2)
    assert (meta.metrics, meta.params, meta.data_fingerprint) == (
        {"pr_auc": 0.9},
        {"C": 1.0},
        "abc",
    )
    assert meta.created_at > 0
    assert meta.feature_spec_version == FEATURE_SPEC_VERSION
    assert [m.version for m in registry.versions("fraud")] == [1, 2]


def test_promote_and_rollback_move_the_champion_and_the_epoch(registry: ModelRegistry) -> None:
    v1, v2, v3 = (register(registry) for _ in range(3))
    epoch = registry.epoch()
    registry.promote("fraud", v1)
    registry.promote("fraud", v2)
    registry.promote("fraud", v3)
    assert registry.alias("fraud", "champion") == v3
    assert registry.rollback("fraud") == v2
    assert registry.rollback("fraud") == v1
    assert registry.epoch() == epoch + 5
    with pytest.raises(ModelError, match="no earlier champion"):
        registry.rollback("fraud")


def test_promoting_the_challenger_clears_the_challenger_alias(registry: ModelRegistry) -> None:
    v1, v2 = register(registry), register(registry)
    registry.promote("fraud", v1)
    registry.set_alias("fraud", "challenger", v2)
    registry.promote("fraud", v2)
    assert registry.aliases("fraud") == {"champion": v2}


def test_an_unknown_version_cannot_be_promoted(registry: ModelRegistry) -> None:
    # Its own type: the API answers 404 for it and 409 for other refusals.
    with pytest.raises(NoSuchModelVersionError, match="no such version"):
        registry.promote("fraud", 42)


def test_a_model_trained_on_other_features_is_refused(registry: ModelRegistry) -> None:
    version = register(registry, spec=FEATURE_SPEC_VERSION + 1)
    with pytest.raises(FeatureVersionMismatchError) as caught:
        load_served(registry, "fraud", version)
    assert "feature spec" in caught.value.reason


def test_loading_never_executes_untrusted_types() -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    data = sio.dumps({"model": fitted(), "payload": [1, 2, 3]})
    assert load_artifact("x", data)["payload"] == [1, 2, 3]
    with pytest.raises(ModelError, match="untrusted types"):
        load_artifact("x", sio.dumps(Evil()))


def test_a_tampered_artifact_is_refused(
    registry: ModelRegistry, redis_url: str, prefix: str
) -> None:
    import redis

    version = register(registry)
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:model:fraud:artifact:{version}", sio.dumps(fitted()) + b" ")
    client.close()
    with pytest.raises(ModelError, match="checksum"):
        registry.load("fraud", version)


def _comparison(candidate: int, champion: int, verdict: str) -> dict[str, object]:
    low, high = {"worse": (-0.3, -0.1), "better": (0.1, 0.3)}.get(verdict, (-0.1, 0.1))
    return {
        "candidate_version": candidate,
        "champion_version": champion,
        "primary": "pr_auc",
        "verdict": verdict,
        "metrics": {"pr_auc": {"candidate": 0.5, "champion": 0.7, "difference_ci95": [low, high]}},
    }


def test_a_version_measured_worse_than_the_champion_is_refused_unless_forced(
    registry: ModelRegistry,
) -> None:
    champion, candidate = register(registry), register(registry)
    registry.promote("fraud", champion)
    kept = registry.record_comparison("fraud", candidate, _comparison(candidate, champion, "worse"))
    assert kept.data["comparison"]["verdict"] == "worse"
    with pytest.raises(PromotionRefusedError, match="worse than champion v1 on pr_auc"):
        registry.promote("fraud", candidate)
    assert registry.alias("fraud", "champion") == champion
    registry.promote("fraud", candidate, force=True)
    assert registry.alias("fraud", "champion") == candidate


def test_no_clear_difference_or_a_comparison_with_another_champion_does_not_refuse(
    registry: ModelRegistry,
) -> None:
    first, second, third = register(registry), register(registry), register(registry)
    registry.promote("fraud", first)
    registry.record_comparison("fraud", second, _comparison(second, first, "no clear difference"))
    registry.promote("fraud", second)
    # Measured against v1, which is no longer the champion: that measurement says nothing.
    registry.record_comparison("fraud", third, _comparison(third, first, "worse"))
    registry.promote("fraud", third)
    assert registry.alias("fraud", "champion") == third


def test_starting_with_a_champion_of_an_older_feature_spec_trains_a_current_one(
    registry: ModelRegistry,
) -> None:
    """An engage upgraded under a kept registry: its scorer would refuse the old fraud
    champion, so the first start trains and promotes a new one (the old one is kept)."""
    from training.pipeline import ensure_models

    old = register(registry, spec=FEATURE_SPEC_VERSION - 1)
    registry.promote("fraud", old, force=True)
    for name in ("recommender", "winback"):  # current champions: left alone
        meta = registry.register(
            name, fitted(), kind="fraud", feature_spec_version=FEATURE_SPEC_VERSION
        )
        registry.promote(name, meta.version, force=True)

    champions = ensure_models(registry, customers=500, days=45)  # as the test stack does

    assert champions["fraud"] != old
    assert registry.get("fraud", champions["fraud"]).feature_spec_version == FEATURE_SPEC_VERSION
    assert registry.get("fraud", old).feature_spec_version == FEATURE_SPEC_VERSION - 1
    assert (champions["recommender"], champions["winback"]) == (1, 1)
