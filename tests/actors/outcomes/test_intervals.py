"""Intervals against published values (Newcombe 1998, tables I and II)."""

from __future__ import annotations

import pytest

from actors.outcomes.intervals import difference, wilson


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)],
)
def test_wilsons_interval_of_a_rate(x: int, n: int, low: float, high: float) -> None:
    found = wilson(x, n)
    assert found is not None
    assert found == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [(56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090)],
)
def test_newcombes_interval_of_a_difference(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    found = difference(x1, n1, x2, n2)
    assert found is not None
    assert found == pytest.approx((low, high), abs=1e-4)


def test_no_trials_no_interval() -> None:
    assert wilson(0, 0) is None
    assert difference(1, 10, 0, 0) is None
