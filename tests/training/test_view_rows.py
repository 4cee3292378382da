"""Rows for a model of one's own: its view at each moment it is asked, labelled by the
outcome the team chose, joined on event time as the built-in labels are."""

from __future__ import annotations

import pytest

from actors.errors import TrainingDataError
from actors.model.events import Event
from tests.support import T0, event
from training.view_rows import view_rows

DAY = 86_400.0


def _labels(events: list[Event], outcome: str, as_of: float) -> dict[object, object]:
    table = view_rows(events, ("orders", "session_page_views"), ("login",), outcome, 7 * DAY, as_of)
    return dict(zip(table.columns["time"], table.columns["label"], strict=True))


def test_an_outcome_within_the_window_is_a_one_after_it_a_zero_still_open_pending() -> None:
    events = [
        event("login", "c1", T0),
        event("purchase", "c1", T0 + 2 * DAY, order_id="o1"),
        event("login", "c1", T0 + 3 * DAY),
        event("login", "c1", T0 + 20 * DAY),
        event("page_view", "c1", T0 + 22 * DAY),
    ]
    labels = _labels(events, "purchase", as_of=T0 + 22 * DAY)
    assert labels == {T0: 1, T0 + 3 * DAY: 0, T0 + 20 * DAY: None}


def test_a_custom_event_is_an_outcome_by_its_name() -> None:
    events = [
        event("login", "c1", T0),
        event("custom", "c1", T0 + DAY, name="Plan Upgraded"),
        event("login", "c2", T0),
        event("custom", "c2", T0 + DAY, name="Plan Viewed"),
    ]
    table = view_rows(
        events, ("orders",), ("login",), "custom:Plan Upgraded", 7 * DAY, T0 + 9 * DAY
    )
    labels = dict(zip(table.columns["customer_id"], table.columns["label"], strict=True))
    assert labels == {"c1": 1, "c2": 0}


def test_the_moment_asked_on_is_no_outcome_of_itself() -> None:
    events = [event("purchase", "c1", T0, order_id="o1")]
    table = view_rows(events, ("orders",), ("purchase",), "purchase", 7 * DAY, T0 + 9 * DAY)
    assert table.columns["label"] == [0]
    assert table.columns["orders"] == [1.0]  # the state once the purchase is applied


def test_an_outcome_that_is_no_event_engage_knows_is_refused() -> None:
    with pytest.raises(TrainingDataError, match="an event type"):
        view_rows([event("login")], ("orders",), ("login",), "upgrade", DAY)
