"""Journeys in the customer actor's turns: a run enters on an event, waits on the
customer's durable reminder, sends each step's action once, branches, and ends at once on
its exit event; a customer is in at most one run of a journey."""

from __future__ import annotations

import asyncio
from typing import Any

from actors.model.actions import CartReminderAction, OfferAction
from actors.model.state import CustomerState
from actors.rules.ruleset import parse_rules
from actors.turn.actor import CustomerActor
from actors.turn.outcome import TurnOutcome
from tests.support import T0, FakeScorer, event

NOW = 2_000_000_000.0
KIND = "journey.cart_recovery"
CART_RECOVERY = """
version: 1
journeys:
  - id: cart_recovery
    entry: {events: [cart_add], when: "cart.items > 0"}
    exit_on: [purchase]
    steps:
      - {id: settle, wait: 30m}
      - id: email
        send: {type: cart_reminder, channel: email, template: "{cart.items} items wait"}
      - {id: a_day, wait: 1d, until: {product_view: browsing}}
      - id: push_offer
        send: {type: offer, channel: push, template: "10% off {offer.title}"}
      - {id: done, exit: true}
      - id: browsing
        branch: [{when: "cart.value > 150", goto: push_offer}]
        goto: done
"""


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def actor(text: str = CART_RECOVERY) -> tuple[CustomerActor, Clock]:
    clock = Clock()
    return CustomerActor(parse_rules(text), FakeScorer(), clock=clock), clock


def on(a: CustomerActor, state: CustomerState, e: Any) -> TurnOutcome:
    return asyncio.run(a.on_event("c1", state, e))


def wake(a: CustomerActor, state: CustomerState, due: float) -> TurnOutcome:
    return asyncio.run(a.on_reminder("c1", state, KIND, due))


def journey_counters(outcome: TurnOutcome) -> list[str]:
    return [c for c in outcome.counters if c.startswith("journey|")]


def test_a_left_cart_waits_then_emails_then_pushes_an_offer_a_day_later() -> None:
    a, clock = actor()
    state = CustomerState()
    entered = on(a, state, event("cart_add", at=T0))
    assert entered.actions == []
    assert entered.reminders_set == [(KIND, NOW + 1800)]
    assert state.journeys == {"cart_recovery": ("settle", entered.trace["trigger_id"], T0)}  # type: ignore[index]
    assert journey_counters(entered) == [
        "journey|cart_recovery|run|started",
        "journey|cart_recovery|step|settle",
    ]
    clock.now = NOW + 1800
    emailed = wake(a, state, NOW + 1800)
    (email,) = emailed.actions
    assert isinstance(email, CartReminderAction)
    assert (email.rule_id, email.channel, email.message) == (
        "cart_recovery.email",
        "email",
        "1 items wait",
    )
    assert email.campaign == "cart_recovery"
    assert emailed.reminders_set == [(KIND, NOW + 1800 + 86_400)]
    clock.now = NOW + 1800 + 86_400
    pushed = wake(a, state, clock.now)
    (offer,) = pushed.actions
    assert isinstance(offer, OfferAction)
    assert offer.message is not None
    assert offer.message.startswith("10% off ")
    assert state.journeys is None
    assert journey_counters(pushed)[-1] == "journey|cart_recovery|run|exited"
    assert KIND in pushed.reminders_cancelled


def test_a_purchase_at_any_point_ends_the_run_at_once() -> None:
    a, clock = actor()
    state = CustomerState()
    on(a, state, event("cart_add", at=T0))
    bought = on(a, state, event("purchase", at=T0 + 60))
    assert state.journeys is None
    assert KIND in bought.reminders_cancelled
    assert "journey|cart_recovery|run|exit_event" in bought.counters
    # The wake-up the commit removed, had it fired all the same, finds no run.
    clock.now = NOW + 1800
    assert wake(a, state, NOW + 1800).actions == []


def test_a_customer_is_in_at_most_one_run_of_a_journey() -> None:
    a, _ = actor()
    state = CustomerState()
    first = on(a, state, event("cart_add", at=T0))
    again = on(a, state, event("cart_add", product_id="p2", at=T0 + 5))
    assert journey_counters(again) == []
    assert again.reminders_set == []
    assert state.journeys is not None
    assert state.journeys["cart_recovery"][1] == first.trace["trigger_id"]  # type: ignore[index]


def test_a_wake_already_handled_does_nothing_again() -> None:
    a, clock = actor()
    state = CustomerState()
    on(a, state, event("cart_add", at=T0))
    clock.now = NOW + 1800
    assert len(wake(a, state, NOW + 1800).actions) == 1
    assert wake(a, state, NOW + 1800).duplicate


def test_an_event_cuts_a_wait_short_and_a_branch_picks_the_step() -> None:
    a, clock = actor()
    small, large = CustomerState(), CustomerState()
    for state, price in ((small, 20.0), (large, 400.0)):
        clock.now = NOW
        on(a, state, event("cart_add", price=price, at=T0))
        clock.now = NOW + 1800
        wake(a, state, NOW + 1800)
    browsed_small = on(a, small, event("product_view", at=T0 + 4000))
    browsed_large = on(a, large, event("product_view", at=T0 + 4000))
    assert browsed_small.actions == []  # no arm held: on to `done`
    assert [x.rule_id for x in browsed_large.actions] == ["cart_recovery.push_offer"]
    for outcome in (browsed_small, browsed_large):
        assert KIND in outcome.reminders_cancelled
        assert "journey|cart_recovery|run|exited" in outcome.counters
    assert small.journeys is None
    assert large.journeys is None


def test_a_marketing_step_for_a_customer_who_opted_out_sends_nothing_and_moves_on() -> None:
    a, clock = actor()
    state = CustomerState()
    on(a, state, event("identify", consent_marketing=False, at=T0 - 10))
    on(a, state, event("cart_add", at=T0))
    clock.now = NOW + 1800
    woken = wake(a, state, NOW + 1800)
    assert woken.actions == []
    assert woken.trace is not None
    assert woken.trace["rules"]["journey:cart_recovery.email"].startswith("not sent:")
    assert state.journeys is not None
    assert state.journeys["cart_recovery"][0] == "a_day"


def test_a_run_whose_journey_was_retired_ends_at_its_next_wake() -> None:
    a, clock = actor()
    state = CustomerState()
    on(a, state, event("cart_add", at=T0))
    a.rules = parse_rules("version: 1\nrules: []\n")
    clock.now = NOW + 1800
    woken = wake(a, state, NOW + 1800)
    assert woken.actions == []
    assert state.journeys is None
    assert "journey|cart_recovery|run|retired" in woken.counters


def test_an_event_that_ends_a_run_may_start_the_next_one() -> None:
    a, _ = actor(
        """
version: 1
journeys:
  - id: come_back
    entry: {events: [content_view], when: "event.completion < 0.5"}
    exit_on: [content_view]
    steps: [{id: wait, wait: 20h}, {id: nudge, send: {type: reengagement, channel: push}}]
"""
    )
    state = CustomerState()
    first = on(a, state, event("content_view", completion=0.3, at=T0))
    again = on(a, state, event("content_view", completion=0.2, at=T0 + 60))
    assert journey_counters(again) == [
        "journey|come_back|run|exit_event",
        "journey|come_back|run|started",
        "journey|come_back|step|wait",
    ]
    assert state.journeys is not None
    assert state.journeys["come_back"][1] == again.trace["trigger_id"]  # type: ignore[index]
    assert first.trace["trigger_id"] != again.trace["trigger_id"]  # type: ignore[index]
    watched = on(a, state, event("content_view", completion=0.95, at=T0 + 120))
    assert state.journeys is None
    assert journey_counters(watched) == ["journey|come_back|run|exit_event"]
