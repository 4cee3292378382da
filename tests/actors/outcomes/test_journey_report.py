"""Journey counts from the slots' outcome counters."""

from __future__ import annotations

from actors.outcomes.journey_report import counter_name, journey_report


def test_runs_active_are_those_started_and_not_ended_and_steps_keep_the_journeys_order() -> None:
    counters = {
        counter_name("cart", "run", "started"): 10,
        counter_name("cart", "run", "exit_event"): 3,
        counter_name("cart", "run", "completed"): 4,
        counter_name("cart", "step", "email"): 6,
        counter_name("cart", "step", "settle"): 10,
        counter_name("retired_one", "run", "started"): 5,  # not in the rules in force
        "sent|treated|rule|campaign|offer|model": 7,  # not a journey's
    }
    report = journey_report(counters, {"cart": ["settle", "email", "push"]})
    assert list(report) == ["cart"]
    cart = report["cart"]
    assert (cart["started"], cart["active"]) == (10, 3)
    assert cart["ended"] == {"completed": 4, "exited": 0, "exit_event": 3, "retired": 0}
    assert cart["steps"] == {"settle": 10, "email": 6, "push": 0}
    assert list(cart["steps"]) == ["settle", "email", "push"]
