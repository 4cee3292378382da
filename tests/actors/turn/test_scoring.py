"""The coalescing scorer keeps what each model answers live, per model, in tenths (the
distribution the dashboard and /metrics show, and the one drift is judged by), and what
each model is asked, per feature bin (drift against the training window)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from actors.errors import ScorerUnavailableError
from actors.model.features import PAYMENT_FEATURES
from actors.turn.scoring import SCORE_BUCKETS, CoalescingScorer, Score, headline
from tests.support import FakeScorer


def test_each_models_answers_are_counted_in_tenths() -> None:
    class Fixed:
        async def score(self, model: str, rows: object) -> list[Score]:
            return [Score(model, "1", (0.05,)), Score(model, "1", (0.95,))]

    scorer = CoalescingScorer(Fixed())

    async def run() -> None:
        await asyncio.gather(scorer.score("fraud", [[0.0]]), scorer.score("fraud", [[1.0]]))

    asyncio.run(run())
    fraud = scorer.distributions["fraud"]
    assert fraud.buckets == SCORE_BUCKETS
    assert fraud.count == 2
    assert fraud.counts[0] == 1  # 0.05 is in the first tenth
    assert fraud.counts[9] == 1  # 0.95 in the last
    assert "recommender" not in scorer.distributions


def test_a_recommender_answer_counts_as_its_best_offer() -> None:
    assert headline(Score("recommender", "1", (0.2, 0.7, 0.1))) == 0.7


def test_a_failed_call_counts_nothing() -> None:
    scorer = CoalescingScorer(FakeScorer(fail=ScorerUnavailableError("fraud", "down")))

    async def run() -> None:
        await scorer.score("fraud", [[0.0] * 40])

    with pytest.raises(ScorerUnavailableError):
        asyncio.run(run())
    assert scorer.distributions == {}
    assert scorer.feature_counts == {}


def test_what_each_model_is_asked_is_counted_per_feature_bin() -> None:
    class Fixed:
        async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
            return [Score(model, "1", (0.1,)) for _ in rows]

    scorer = CoalescingScorer(Fixed())
    row = [0.0] * len(PAYMENT_FEATURES)
    row[PAYMENT_FEATURES.index("new_country")] = 1.0

    async def run() -> None:
        await asyncio.gather(
            scorer.score("fraud", [row]),
            scorer.score("fraud", [[0.0] * len(PAYMENT_FEATURES)]),
            scorer.score("winback", [[1.0, 2.0]]),
        )

    asyncio.run(run())
    counter = scorer.feature_counts["fraud"]
    assert counter.rows == 2
    assert counter.split(counter.to_list())["new_country"] == [1, 1]
    assert "winback" not in scorer.feature_counts  # no bins: no training window to compare


def test_a_model_server_that_does_not_answer_fails_the_call_as_an_outage() -> None:
    class Silent:
        async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
            await asyncio.Event().wait()  # never answers
            raise AssertionError("unreachable")

    scorer = CoalescingScorer(Silent(), timeout_s=0.05)
    with pytest.raises(ScorerUnavailableError) as caught:
        asyncio.run(scorer.score("fraud", [[0.0]]))
    assert "no answer within 0.05 s" in caught.value.cause
