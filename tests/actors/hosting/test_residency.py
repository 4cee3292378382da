"""Live customers: passivated after idling between one and two periods, or over the limit."""

from __future__ import annotations

from actors.hosting.residency import LiveSet
from actors.model.state import CustomerState


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_customer_idle_for_two_periods_is_passivated_one_used_in_between_is_not() -> None:
    clock = Clock()
    live = LiveSet(idle_s=60, max_live=100, clock=clock)
    live.put("idle", CustomerState())
    live.put("busy", CustomerState())
    clock.now = 61
    assert live.passivate() == 0
    assert live.get("busy") is not None  # used: young again
    clock.now = 122
    assert live.passivate() == 1
    assert "idle" not in live
    assert "busy" in live


def test_over_the_limit_the_least_recently_used_go_first() -> None:
    live = LiveSet(idle_s=1e9, max_live=2, clock=Clock())
    for cid in ("a", "b", "c"):
        live.put(cid, CustomerState())
    live.get("a")
    assert live.passivate() == 1
    assert list(live) == ["c", "a"]


def test_customers_in_a_turn_are_never_passivated() -> None:
    clock = Clock()
    live = LiveSet(idle_s=10, max_live=1, clock=clock)
    live.put("a", CustomerState())
    live.put("b", CustomerState())
    assert live.passivate(busy={"a", "b"}) == 0
    clock.now = 100
    live.passivate(busy={"a"})
    clock.now = 200
    live.passivate(busy={"a"})
    assert list(live) == ["a"]


def test_peek_does_not_count_as_use() -> None:
    clock = Clock()
    live = LiveSet(idle_s=10, max_live=10, clock=clock)
    live.put("a", CustomerState())
    clock.now = 11
    live.passivate()
    live.peek("a")
    clock.now = 22
    assert live.passivate() == 1
