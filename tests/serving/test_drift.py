"""Drift of a model's live scores: the population stability index of the last hour against
the day before, none when a window is too small or a shard restarted in it."""

from __future__ import annotations

from typing import Any

import pytest

from serving.drift import MIN_SCORES, psi, score_drift

STEADY = [300, 200, 100, 50, 30, 20, 10, 5, 3, 2]


def sample(scores: dict[str, list[int]]) -> dict[str, Any]:
    return {"scores": {m: [*counts, 0] for m, counts in scores.items()}}  # + the +Inf bucket


def test_the_same_distribution_has_no_drift() -> None:
    assert psi(STEADY, [2 * c for c in STEADY]) == pytest.approx(0.0)


def test_scores_moving_to_the_high_tenths_is_drift() -> None:
    moved = list(reversed(STEADY))
    value = psi(STEADY, moved)
    assert value is not None
    assert value > 0.2


def test_too_few_scores_is_no_index_rather_than_noise() -> None:
    few = [1] * 10
    assert sum(few) < MIN_SCORES
    assert psi(STEADY, few) is None


def test_the_index_compares_the_last_hour_with_the_day_before() -> None:
    oldest = sample({"fraud": [0] * 10})
    middle = sample({"fraud": STEADY})
    newest = sample({"fraud": [a + b for a, b in zip(STEADY, reversed(STEADY), strict=True)]})
    drift = score_drift(oldest, middle, newest)
    assert drift["fraud"] > 0.2


def test_a_restarted_shard_makes_the_window_unusable() -> None:
    oldest = sample({"fraud": STEADY})
    middle = sample({"fraud": [2 * c for c in STEADY]})
    newest = sample({"fraud": STEADY})  # counts went down: a shard started again
    assert score_drift(oldest, middle, newest) == {}


def test_no_samples_yet_is_no_index() -> None:
    assert score_drift(None, None, sample({"fraud": STEADY})) == {}
