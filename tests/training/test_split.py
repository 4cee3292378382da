"""The time split: train on what had settled before the recent window, test on the window."""

from __future__ import annotations

import pytest

from actors.errors import TrainingDataError
from training.split import time_split

DAY = 86_400.0


def test_training_rows_settled_before_the_test_window_began_and_the_rest_is_counted() -> None:
    times = [i * DAY for i in range(100)]
    labels: list[int | None] = [i % 5 == 0 for i in range(90)] + [None] * 10
    split = time_split(times, labels, window_s=7 * DAY, as_of=100 * DAY, test_share=0.2)
    test_from = split.counts.test_from
    assert test_from == pytest.approx(89 * DAY - 0.2 * 89 * DAY)
    assert all(times[i] + 7 * DAY <= test_from for i in split.train)
    assert all(times[i] >= test_from for i in split.test)
    assert not set(split.train) & set(split.test)
    c = split.counts
    assert c.pending == 10
    assert c.train_rows + c.test_rows + c.embargoed + c.pending == c.rows == 100
    assert c.embargoed == 7
    assert c.train_positives == sum(1 for i in split.train if labels[i])


def test_a_side_without_both_classes_is_an_error_naming_the_counts() -> None:
    times = [i * DAY for i in range(50)]
    labels: list[int | None] = [1 if i < 10 else 0 for i in range(50)]
    with pytest.raises(TrainingDataError, match=r"test window has .* and 0 positives"):
        time_split(times, labels, window_s=DAY, as_of=60 * DAY, model="fraud")


def test_nothing_settled_is_an_error_that_says_the_labels_are_pending() -> None:
    with pytest.raises(TrainingDataError, match="3 pending"):
        time_split([0.0, 1.0, 2.0], [None, None, None], window_s=DAY, as_of=2.0)


def test_a_range_barely_longer_than_the_label_window_says_what_to_change() -> None:
    # Under three minutes of a demo with a two-minute label window: the window kept
    # between training and test leaves nothing to train on.
    times = [float(s) for s in range(0, 160, 2)]
    labels: list[int | None] = [s % 10 == 0 for s in range(80)]
    with pytest.raises(TrainingDataError) as refused:
        time_split(times, labels, window_s=120, as_of=280, model="fraud")
    message = str(refused.value)
    assert "a 120 s label window lies between training and test" in message
    assert "read a longer range (--since)" in message
    assert "shorter --label-window" in message


def test_a_range_long_enough_for_the_window_gets_no_hint() -> None:
    times = [i * DAY for i in range(50)]
    labels: list[int | None] = [1 if i < 10 else 0 for i in range(50)]
    with pytest.raises(TrainingDataError) as refused:
        time_split(times, labels, window_s=DAY, as_of=60 * DAY)
    assert "--label-window" not in str(refused.value)
