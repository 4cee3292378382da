"""A candidate against the champion on the same rows: intervals and a verdict."""

from __future__ import annotations

import numpy as np

from training.champion import BETTER, UNCLEAR, WORSE, compare_on_window


def _rows(n: int = 600) -> tuple[list[int], list[float], list[float]]:
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.1).astype(int)
    sharp = np.clip(y * 0.7 + rng.random(n) * 0.4, 0, 1)  # separates the classes
    noise = rng.random(n)  # knows nothing
    return y.tolist(), sharp.tolist(), noise.tolist()


def _compare(y: list[int], candidate: list[float], champion: list[float]) -> dict:  # type: ignore[type-arg]
    return compare_on_window(
        "fraud", y, candidate, champion, candidate_version=2, champion_version=1, window=(0, 1)
    )


def test_a_clearly_better_candidate_is_better_and_its_interval_excludes_zero() -> None:
    y, sharp, noise = _rows()
    result = _compare(y, sharp, noise)
    assert result["verdict"] == BETTER
    pr = result["metrics"]["pr_auc"]
    assert pr["difference_ci95"][0] > 0
    assert pr["candidate_ci95"][0] <= pr["candidate"] <= pr["candidate_ci95"][1]
    assert result["rows"] == 600
    assert result["positives"] == sum(y)


def test_the_reverse_is_worse() -> None:
    y, sharp, noise = _rows()
    assert _compare(y, noise, sharp)["verdict"] == WORSE


def test_the_same_scores_are_no_clear_difference() -> None:
    y, sharp, _ = _rows()
    result = _compare(y, sharp, sharp)
    assert result["verdict"] == UNCLEAR
    assert result["metrics"]["pr_auc"]["difference_ci95"] == [0.0, 0.0]


def test_the_comparison_is_reproducible() -> None:
    y, sharp, noise = _rows()
    assert _compare(y, sharp, noise) == _compare(y, sharp, noise)
