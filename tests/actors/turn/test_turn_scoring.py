"""The scores of one turn: the recommender is asked about the offers the customer may be
made, and an answer that does not fit the request is the model server's outage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from actors.catalog.catalog import built_in
from actors.errors import ScorerUnavailableError
from actors.model.offer_features import blocks_in
from actors.model.state import CustomerState
from actors.rules.context import Before
from actors.turn.offers import Audience
from actors.turn.prefetch import NO_SCORES
from actors.turn.scoring import Score
from actors.turn.turn_scoring import TurnScoring
from tests.support import T0, FakeScorer


def score(scorer: FakeScorer) -> dict[str, float]:
    scoring = TurnScoring(scorer, built_in(), T0)
    scored = asyncio.run(
        scoring.score(
            {"recommender"},
            "c1",
            CustomerState(),
            T0,
            "e1",
            Before(0.0, None),
            NO_SCORES,
            Audience(affinities={"books": 2.0}),
        )
    )
    return scored.scores


def test_the_recommender_is_asked_about_every_offer_the_customer_may_be_made() -> None:
    scorer = FakeScorer()
    scores = score(scorer)
    ((model, (row,)),) = scorer.requests
    assert model == "recommender"
    assert blocks_in(row) == len(built_in().offers)
    # The fake: p 0.25 for the offers of a category the customer is drawn to (books), else
    # 0.05; the best by expected value is the turn's offer.
    expected = max((0.25 if "books" in o.categories else 0.05) * o.value for o in built_in().offers)
    assert scores["offer_value"] == pytest.approx(expected)


def test_an_answer_that_does_not_fit_the_request_is_an_outage_not_the_events_fault() -> None:
    class OtherSpec(FakeScorer):
        """A model server reading requests otherwise: a probability per offer it knows."""

        async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
            return [Score(model, "1", (0.1,) * 3) for _ in rows]

    with pytest.raises(ScorerUnavailableError, match="3 probabilities for 15 offers"):
        score(OtherSpec())
