"""The scores of one turn: the recommender is asked about the offers the customer may be
made, and an answer that does not fit the request is the model server's outage."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest

from actors.catalog.catalog import built_in
from actors.errors import ScorerUnavailableError
from actors.model.feature_views import ENGINE_COLUMNS
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES, features
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


def own(scorer: FakeScorer, needed: set[str], payment: list[float] | None) -> dict[str, float]:
    scoring = TurnScoring(scorer, built_in(), T0)
    state = CustomerState()
    scored = asyncio.run(
        scoring.score(needed, "c1", state, T0, "e1", Before(0.0, payment), NO_SCORES, Audience())
    )
    assert all(name in scored.versions for name in scored.scores)
    return scored.scores


def test_a_model_of_the_teams_own_is_sent_the_engine_row_and_its_score_read_by_name() -> None:
    scorer = FakeScorer(own={"churn": 0.8})
    assert own(scorer, {"churn"}, None) == {"churn": 0.8}
    ((model, (row,)),) = scorer.requests
    assert model == "churn"
    assert len(row) == len(ENGINE_COLUMNS)
    assert row[: len(CUSTOMER_FEATURES)] == features(CustomerState(), T0)
    assert all(math.isnan(v) for v in row[len(CUSTOMER_FEATURES) :])


def test_on_a_payment_the_engine_row_carries_the_payment_as_the_fraud_model_sees_it() -> None:
    scorer = FakeScorer(own={"churn": 0.8})
    payment = [float(i) for i in range(len(PAYMENT_FEATURES))]
    own(scorer, {"churn", "fraud"}, payment)
    rows = dict(scorer.requests)
    assert rows["churn"][0][len(CUSTOMER_FEATURES) :] == rows["fraud"][0] == payment


def test_a_model_without_a_champion_leaves_its_score_missing_and_the_others_answered() -> None:
    scorer = FakeScorer(own={"upgrade": 0.4})
    assert own(scorer, {"churn", "upgrade", "winback"}, None) == {"upgrade": 0.4, "winback": 0.3}
