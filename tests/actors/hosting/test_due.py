"""DueIndex: which slots have a reminder due, without reading every slot each poll."""

from __future__ import annotations

from actors.hosting.due import DueIndex

SLOTS = frozenset({1, 2, 3})


def test_it_asks_for_a_rescan_at_first_after_the_interval_and_when_the_slots_change() -> None:
    due = DueIndex(rescan_s=30)
    assert due.stale(SLOTS, 100.0)
    due.rescanned(SLOTS, {1: 90.0}, 100.0)
    assert not due.stale(SLOTS, 129.0)
    assert due.stale(SLOTS, 130.0)
    assert due.stale(frozenset({1, 2}), 101.0)


def test_ready_slots_are_taken_once_and_only_those_owned_and_due() -> None:
    due = DueIndex(rescan_s=30)
    due.rescanned(SLOTS, {1: 90.0, 2: 150.0, 3: 95.0, 9: 10.0}, 100.0)
    assert due.take_ready({1, 2, 3}, 100.0) == [1, 3]
    assert due.take_ready({1, 2, 3}, 100.0) == []  # a commit or read-back adds them again


def test_a_commit_lowers_the_next_due_but_never_raises_it() -> None:
    due = DueIndex(rescan_s=30)
    due.rescanned(SLOTS, {1: 200.0}, 100.0)
    due.lower(1, 300.0)
    due.lower(2, 120.0)
    assert due.take_ready(SLOTS, 199.0) == [2]
    due.lower(1, 150.0)
    assert due.take_ready(SLOTS, 160.0) == [1]


def test_slots_whose_firing_failed_are_ready_again_on_the_next_poll() -> None:
    due = DueIndex(rescan_s=30)
    due.rescanned(SLOTS, {1: 90.0, 2: 95.0}, 100.0)
    ready = due.take_ready(SLOTS, 100.0)
    due.retry(ready, 100.0)
    assert due.take_ready(SLOTS, 100.0) == [1, 2]
