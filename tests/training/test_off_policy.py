"""Off-policy evaluation: a candidate policy judged on another policy's logged decisions
lands, within its interval, on the value the simulator knows it has."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from actors.catalog.catalog import Catalog, built_in
from actors.model.catalog import OFFERS
from actors.model.decision import Candidate, DecisionRecord
from actors.model.events import Event
from actors.model.features import CUSTOMER_FEATURES
from actors.model.offer_features import CUSTOMER_WIDTH
from tests.support import T0, event
from training.off_policy import (
    Logged,
    estimate,
    greedy_under,
    logged_decisions,
    rewards_of,
)

K, N, EPSILON = 5, 20_000, 0.2


def simulate(seed: int) -> tuple[list[Logged], list[str], float]:
    """Customers with two traits; each of K offers converts with a true probability that
    depends on them. The logger ranks by a poor model and explores at EPSILON; the target
    ranks by a better one. Returns the log, the target's picks, and the target's true
    value (the mean of its pick's true probability over the same customers)."""
    rng = np.random.default_rng(seed)
    traits = rng.normal(size=(N, 2))
    weights = rng.normal(size=(K, 2))
    bias = rng.normal(-2.0, 0.5, size=K)
    truth = 1 / (1 + np.exp(-(traits @ weights.T + bias)))  # (N, K)
    logger_scores = truth + rng.normal(0, 0.15, size=truth.shape)  # a poor model
    target_scores = truth + rng.normal(0, 0.02, size=truth.shape)  # a better one
    offers = [f"o{k}" for k in range(K)]
    logged, picks, true_value = [], [], 0.0
    for i in range(N):
        order = list(np.argsort(-logger_scores[i]))
        best = order[0]
        chosen = int(rng.integers(K)) if rng.random() < EPSILON else best
        propensity = (1 - EPSILON) * (chosen == best) + EPSILON / K
        reward = float(rng.random() < truth[i, chosen])
        logged.append(
            Logged(
                decision_id=f"d{i}",
                features=[],
                affinities={},
                offers=[offers[k] for k in order],
                probabilities=[float(logger_scores[i, k]) for k in order],
                values=[1.0] * K,
                chosen=offers[chosen],
                propensity=propensity,
                reward=reward,
            )
        )
        target = int(np.argmax(target_scores[i]))
        picks.append(offers[target])
        true_value += truth[i, target]
    return logged, picks, true_value / N


@pytest.mark.parametrize("seed", range(5))
def test_the_estimate_of_a_known_policy_holds_its_true_value(seed: int) -> None:
    logged, picks, truth = simulate(seed)
    found = estimate(logged, picks)
    assert found.ips_ci[0] <= truth <= found.ips_ci[1]
    assert found.snips_ci is not None
    assert found.snips_ci[0] <= truth <= found.snips_ci[1]
    # The logger's own value is another policy's: the naive reading would be wrong.
    assert not found.logged_value_ci[0] <= truth <= found.logged_value_ci[1]
    assert found.matched < found.n
    assert 0 < found.effective_sample_size < found.n


def test_without_exploration_only_agreeing_decisions_count_and_the_interval_says_so() -> None:
    logged, picks, _ = simulate(0)
    greedy = [
        Logged(
            d.decision_id, [], {}, d.offers, d.probabilities, d.values, d.offers[0], 1.0, d.reward
        )
        for d in logged
    ]
    found = estimate(greedy, picks)
    assert found.matched == sum(d.offers[0] == t for d, t in zip(greedy, picks, strict=True))
    assert found.effective_sample_size == pytest.approx(found.matched)


def test_with_nothing_logged_there_is_no_estimate() -> None:
    with pytest.raises(ValueError, match="no logged decision"):
        estimate([], [])


def record(decision_id: str, chosen: str, **fields: object) -> DecisionRecord:
    candidates = [
        Candidate(
            offer_id=o.offer_id,
            probability=0.1,
            value=o.value,
            expected_value=0.1 * o.value,
            propensity=0.5,
        )
        for o in OFFERS[:2]
    ]
    data: dict[str, object] = {
        "decision_id": decision_id,
        "customer_id": "c1",
        "at": T0,
        "source": "next_best_offer",
        "rule_id": "next_best_offer",
        "candidates": candidates,
        "chosen": [chosen],
        "propensity": 0.5,
        "features": [0.0] * len(CUSTOMER_FEATURES),
        **fields,
    }
    return DecisionRecord.model_validate(data)


def test_rewards_come_from_feedback_naming_the_decision_and_reaching_the_outcome() -> None:
    first, second = OFFERS[0].offer_id, OFFERS[1].offer_id
    feedback: list[Event] = [
        event("offer_feedback", outcome="converted", offer_id=first, decision_id="d1"),
        event("offer_feedback", outcome="shown", offer_id=second, decision_id="d2"),
        event("offer_feedback", outcome="converted", offer_id=first),  # names no decision
        event("product_view"),
    ]
    converted = rewards_of(feedback, "converted")
    assert converted == {("d1", first): 1.0}
    assert rewards_of(feedback, "shown") == {("d1", first): 1.0, ("d2", second): 1.0}
    records = [
        record("d1", first),
        record("d1", first),  # logged twice: counted once
        record("d2", second),
        record("d3", first, control="holdout"),  # never shown: no use to an estimate
        record("d4", first, suppressed="opted out"),
    ]
    logged = logged_decisions(records, converted)
    assert [(d.decision_id, d.reward) for d in logged] == [("d1", 1.0), ("d2", 0.0)]


def test_a_recommender_s_policy_puts_first_its_best_expected_value() -> None:
    first, second = OFFERS[0].offer_id, OFFERS[1].offer_id
    logged = logged_decisions([record("d1", first)], {})
    catalog = Catalog.of(1, built_in().offers)

    # A model that rates one offer far above the rest picks it, whatever the logger
    # preferred. It is asked about the logged candidates, as the catalogue describes them.
    def favouring(offer_id: str) -> Callable[[np.ndarray], np.ndarray]:
        wanted = catalog.by_id[offer_id].attributes
        width = len(wanted)
        return lambda rows: np.array(
            [
                0.9 if list(r[CUSTOMER_WIDTH : CUSTOMER_WIDTH + width]) == wanted else 0.01
                for r in rows
            ]
        )

    assert greedy_under(favouring(second), catalog)(logged) == [second]
    assert greedy_under(favouring(first), catalog)(logged) == [first]
    assert math.isclose(logged[0].propensity, 0.5)
    # An offer the catalogue no longer holds keeps its logged p (0.1 x 30), which the
    # model's 0.01 x 18 for the one it still holds does not beat.
    without_first = Catalog.of(2, [o for o in built_in().offers if o.offer_id != first])
    assert greedy_under(favouring(first), without_first)(logged) == [first]


def test_feedback_naming_no_decision_goes_to_the_latest_that_showed_the_offer() -> None:
    first = OFFERS[0].offer_id
    records = [
        record("d1", first, at=T0),
        record("d2", first, at=T0 + 100),
        record("d3", first, at=T0 + 10_000),  # after the feedback: cannot have caused it
        record("d4", first, at=T0 + 50, control="global_control"),  # shown to no one
    ]
    unnamed = [event("offer_feedback", outcome="converted", offer_id=first, at=T0 + 200)]
    assert rewards_of(unnamed, "converted", records) == {("d2", first): 1.0}
    # Outside the window, nothing.
    assert rewards_of(unnamed, "converted", records, window_s=60) == {}
