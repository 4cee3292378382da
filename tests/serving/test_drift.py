"""Drift: the population stability index of a model's live scores (the last hour against
the day before) and of its features and scores against its training window; none when a
window is too small or a shard restarted in it."""

from __future__ import annotations

from typing import Any

import pytest

from actors.model.feature_bins import FeatureCounter
from serving.drift import MIN_SCORES, THRESHOLD, psi, score_drift, training_drift

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


# ---- against the training window --------------------------------------------------------

FEATURES = ["new_country", "payments_1h"]


def _reference(rows: list[list[float]]) -> dict[str, Any]:
    counter = FeatureCounter(FEATURES)
    counter.observe(rows)
    return {
        "feature_names": FEATURES,
        "features": counter.to_list(),
        "scores": [100] * 5 + [0] * 6,
        "rows": counter.rows,
    }


def _sample(t: float, rows: list[list[float]], scores: list[int]) -> dict[str, Any]:
    counter = FeatureCounter(FEATURES)
    counter.observe(rows)
    return {"t": t, "features": {"fraud": counter.to_list()}, "scores": {"fraud": scores}}


USUAL = [[0.0, 1.0]] * 450 + [[1.0, 3.0]] * 50


def test_live_rows_like_the_training_window_have_not_moved() -> None:
    reference = _reference(USUAL * 4)
    result = training_drift(
        "fraud", reference, _sample(0, [], [0] * 11), _sample(60, USUAL, [100] * 5 + [0] * 6)
    )
    assert result["features"] == {"new_country": 0.0, "payments_1h": 0.0}
    assert result["score"] == 0.0
    assert not result["drifted"]
    assert result["live_rows"] == 500


def test_a_feature_that_moved_is_flagged_by_name_and_the_rest_is_not() -> None:
    reference = _reference(USUAL * 4)
    # New countries, the same velocity: 9 in 10 make one payment an hour, as before.
    moved = [[1.0, 1.0]] * 270 + [[1.0, 3.0]] * 30 + [[0.0, 1.0]] * 180 + [[0.0, 3.0]] * 20
    result = training_drift("fraud", reference, {}, _sample(60, moved, [10] * 5 + [200] * 5 + [0]))
    assert result["features"]["new_country"] > THRESHOLD
    assert result["features"]["payments_1h"] < 0.1
    assert result["drifted_features"] == ["new_country"]
    assert result["score"] is not None
    assert result["score"] > THRESHOLD
    assert result["drifted"]


def test_a_window_with_a_restarted_shard_or_too_few_rows_has_no_index() -> None:
    reference = _reference(USUAL * 4)
    later = _sample(60, USUAL, [100] * 5 + [0] * 6)
    restarted = training_drift("fraud", reference, _sample(0, USUAL * 2, [0] * 11), later)
    assert restarted["features"] == {}
    few = training_drift("fraud", reference, {}, _sample(60, USUAL[:20], [0] * 11))
    assert few["features"] == {}
    assert not few["drifted"]
