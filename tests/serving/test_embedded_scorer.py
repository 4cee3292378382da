"""Scoring inside the shard: the registry's champion, swapped when the alias moves."""

from __future__ import annotations

import asyncio
import time

import pytest
from sklearn.linear_model import LogisticRegression

from actors.errors import ModelError
from actors.model.features import FEATURE_SPEC_VERSION
from serving.embedded_scorer import EmbeddedScorer, EmbeddedScorerFactory
from serving.watcher import ModelWatcher
from training.registry import ModelRegistry

pytestmark = pytest.mark.integration


def register(registry: ModelRegistry, labels: list[int]) -> int:
    model = LogisticRegression().fit([[0.0], [1.0], [0.2], [0.9]], labels)
    meta = registry.register(
        "fraud",
        model,
        kind="fraud",
        feature_spec_version=FEATURE_SPEC_VERSION,
        metrics={"pr_auc": 0.9},
        params={},
        data_fingerprint="test",
    )
    return meta.version


def test_scores_with_the_champion_and_follows_a_promotion(redis_url: str, prefix: str) -> None:
    registry = ModelRegistry(redis_url, prefix)
    first = register(registry, [0, 1, 0, 1])
    registry.promote("fraud", first)

    async def scenario() -> tuple[list[float], list[float], str]:
        scorer = EmbeddedScorer(ModelWatcher(redis_url, prefix, poll_s=0.05))
        before = await scorer.score("fraud", [[0.0], [1.0]])
        assert {s.version for s in before} == {str(first)}
        second = register(registry, [1, 0, 1, 0])  # the opposite opinion
        registry.promote("fraud", second)
        deadline = time.monotonic() + 10
        after = before
        while time.monotonic() < deadline:
            after = await scorer.score("fraud", [[0.0], [1.0]])
            if after[0].version == str(second):
                break
            await asyncio.sleep(0.05)
        return [s.values[0] for s in before], [s.values[0] for s in after], after[0].version

    try:
        before, after, version = asyncio.run(scenario())
    finally:
        registry.close()
    assert before[1] > before[0]
    assert version != str(first)
    assert after[1] < after[0]


def test_a_model_without_champion_is_an_error_not_a_guess(redis_url: str, prefix: str) -> None:
    async def scenario() -> None:
        scorer = EmbeddedScorerFactory(redis_url, f"{prefix}-empty")()
        with pytest.raises(ModelError):
            await scorer.score("recommender", [[0.0]])

    asyncio.run(scenario())
