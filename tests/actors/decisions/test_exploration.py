"""Exploration: a stated share of decisions puts a drawn offer first, with a known
propensity, the same on every replay."""

from __future__ import annotations

import math

import pytest

from actors.decisions.exploration import choose


def test_without_exploration_the_best_comes_first_with_certainty() -> None:
    choice = choose(5, 3, 0.0, "d1")
    assert choice.order == [0, 1, 2]
    assert choice.propensity == 1.0
    assert choice.propensities == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert not choice.explored


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_each_candidate_has_its_propensity_and_they_sum_to_one(share: float) -> None:
    choice = choose(4, 1, share, "d1")
    assert math.isclose(sum(choice.propensities), 1.0)
    assert math.isclose(choice.propensities[0], 1 - share + share / 4)
    assert all(math.isclose(p, share / 4) for p in choice.propensities[1:])


def test_the_share_of_first_offers_drawn_matches_the_stated_share() -> None:
    # 20,000 decisions at 20% over 5 candidates: each non-best offer is first in 4% of
    # them (the best's own draws keep it first), within five standard errors.
    n, share, candidates = 20_000, 0.2, 5
    firsts = [choose(candidates, 1, share, f"d{i}").order[0] for i in range(n)]
    for index in range(1, candidates):
        seen = firsts.count(index) / n
        expected = share / candidates
        assert abs(seen - expected) < 5 * math.sqrt(expected * (1 - expected) / n)
    explored = sum(choose(candidates, 1, share, f"d{i}").explored for i in range(n)) / n
    assert abs(explored - share * (candidates - 1) / candidates) < 0.02


def test_a_decision_draws_the_same_on_every_replay() -> None:
    assert [choose(6, 3, 0.5, f"k{i}").order for i in range(50)] == [
        choose(6, 3, 0.5, f"k{i}").order for i in range(50)
    ]


def test_the_offers_after_a_drawn_first_follow_in_order_of_value() -> None:
    drawn = next(
        choose(6, 3, 0.9, f"k{i}") for i in range(100) if choose(6, 3, 0.9, f"k{i}").order[0] == 4
    )
    assert drawn.order == [4, 0, 1]
    assert drawn.explored


def test_a_single_candidate_is_never_explored_and_none_gives_no_choice() -> None:
    assert choose(1, 3, 0.5, "d").propensities == [1.0]
    assert choose(0, 3, 0.5, "d").order == []
    assert choose(0, 3, 0.5, "d").propensity is None
