"""The time split: train on the past, evaluate on the most recent window.

The test window is the last `test_share` of the span of labelled prediction times. The
training rows are those whose label window had closed before the test window began: a
model trained then could have known their labels, and nothing it learns comes from the
period it is judged on. Rows whose window straddles the boundary are left out of both
and counted (`embargoed`), so the report says what the split cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from actors.errors import TrainingDataError


@dataclass(frozen=True)
class LabelCounts:
    """What the labelled data held, for the report and the registry."""

    rows: int
    pending: int
    embargoed: int
    train_rows: int
    train_positives: int
    test_rows: int
    test_positives: int
    train_from: float
    train_until: float
    test_from: float
    test_until: float
    as_of: float
    label_window_s: float
    # Positives that rest on a client source's report only (training.dataset.OfferRows).
    client_positives: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimeSplit:
    train: list[int]
    test: list[int]
    counts: LabelCounts


def time_split(
    times: Sequence[float],
    labels: Sequence[int | None],
    *,
    window_s: float,
    as_of: float,
    test_share: float = 0.25,
    model: str = "model",
) -> TimeSplit:
    """Indices of the training and test rows; raises when either side cannot be used."""
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    labelled = [i for i, label in enumerate(labels) if label is not None]
    pending = len(labels) - len(labelled)
    if not labelled:
        raise TrainingDataError(
            f"{model}: none of {len(labels):,} rows has a settled label yet "
            f"({pending:,} pending: their {window_s:g} s label window is still open)"
        )
    first = min(times[i] for i in labelled)
    last = max(times[i] for i in labelled)
    test_from = last - test_share * (last - first)
    train = [i for i in labelled if times[i] + window_s <= test_from]
    test = [i for i in labelled if times[i] >= test_from]
    train_pos = sum(1 for i in train if labels[i])
    test_pos = sum(1 for i in test if labels[i])
    counts = LabelCounts(
        rows=len(labels),
        pending=pending,
        embargoed=len(labelled) - len(train) - len(test),
        train_rows=len(train),
        train_positives=train_pos,
        test_rows=len(test),
        test_positives=test_pos,
        train_from=first,
        train_until=max((times[i] for i in train), default=first),
        test_from=test_from,
        test_until=last,
        as_of=as_of,
        label_window_s=window_s,
    )
    for side, rows, positives in (("training", train, train_pos), ("test", test, test_pos)):
        if positives == 0 or positives == len(rows):
            raise TrainingDataError(
                f"{model}: the {side} window has {len(rows):,} rows and {positives:,} "
                f"positives; both classes are needed{_span_hint(first, last, test_from, window_s)}"
                f" (label counts: {counts.as_dict()})"
            )
    return TimeSplit(train, test, counts)


def _span_hint(first: float, last: float, test_from: float, window_s: float) -> str:
    """What to change when the data is too short for the split: a label window is kept
    between training and test, so a range barely longer than it leaves training nothing."""
    train_span = test_from - window_s - first
    if train_span >= window_s:
        return ""
    return (
        f". The labelled rows span {last - first:,.0f} s, and a {window_s:g} s label window "
        f"lies between training and test, which leaves {max(train_span, 0.0):,.0f} s to train "
        "on: read a longer range (--since), or, if outcomes come sooner, pass a shorter "
        "--label-window"
    )
