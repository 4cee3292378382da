"""Attribution: outcomes credited to the action that caused them, holdouts stable."""

from __future__ import annotations

import asyncio

from actors.model.action_record import CLICKED, CONVERTED, ActionRecord
from actors.model.state import CustomerState
from actors.outcomes.attribution import (
    attribute,
    control_group,
    in_global_control,
    in_holdout,
)
from actors.rules.ruleset import parse_rules
from actors.turn.actor import CustomerActor
from tests.support import T0, FakeScorer, event

RULES = """
policy: {holdout: {browse: 0.5}, attribution_window: 1d}
rules:
  - id: browse_offer
    kind: marketing
    triggers: [product_view]
    when: session.category_views >= 3
    once_per: session
    action: {type: offer, channel: push, campaign: browse}
"""


def record(
    action_id: str = "a1", offer_id: str = "electronics_10", at: float = T0, held_out: bool = False
) -> ActionRecord:
    return ActionRecord(action_id, offer_id, "browse_offer", "browse", "3", at, held_out)


def test_holdout_membership_is_stable_and_close_to_the_share() -> None:
    members = [in_holdout(f"c{i}", "browse", 0.1) for i in range(10_000)]
    assert 900 < sum(members) < 1100
    assert members == [in_holdout(f"c{i}", "browse", 0.1) for i in range(10_000)]
    assert not any(in_holdout(f"c{i}", "browse", 0.0) for i in range(100))


def test_feedback_naming_its_action_is_credited_once() -> None:
    state = CustomerState()
    state.remember_action(record())
    clicked = event(
        "offer_feedback", outcome="clicked", offer_id="electronics_10", action_id="a1", at=T0 + 60
    )
    assert attribute(state, clicked, 86_400) == [
        "clicked|treated|browse_offer|browse|electronics_10|3"
    ]
    assert attribute(state, clicked, 86_400) == []
    assert state.recent_actions is not None
    assert state.recent_actions[0].outcomes == CLICKED


def test_feedback_without_an_id_goes_to_the_latest_matching_offer_in_the_window() -> None:
    state = CustomerState()
    state.remember_action(record("old", at=T0 - 2 * 86_400))
    state.remember_action(record("new", at=T0))
    converted = event("offer_feedback", outcome="converted", offer_id="electronics_10", at=T0 + 10)
    assert attribute(state, converted, 86_400) == [
        "converted|treated|browse_offer|browse|electronics_10|3"
    ]
    assert state.recent_actions is not None
    assert [r.outcomes for r in state.recent_actions] == [0, CONVERTED]


def test_a_purchase_in_the_offers_category_converts_it_treated_or_held_out() -> None:
    state = CustomerState()
    state.remember_action(record("a1", held_out=True))
    state.remember_action(record("a2", offer_id="fashion_15"))
    purchase = event(
        "purchase",
        total=99.0,
        at=T0 + 3600,
        items=[{"product_id": "x", "category": "electronics", "price": 99.0}],
    )
    assert attribute(state, purchase, 86_400) == [
        "converted|holdout|browse_offer|browse|electronics_10|3"
    ]


def test_a_cart_reminder_is_converted_by_any_purchase_within_the_window() -> None:
    state = CustomerState()
    state.remember_action(
        ActionRecord("a1", "cart_reminder", "cart_abandonment", "cart", "", T0, False)
    )
    late = event("purchase", total=5.0, at=T0 + 3 * 86_400)
    assert attribute(state, late, 86_400) == []
    soon = event("purchase", total=5.0, at=T0 + 600)
    assert attribute(state, soon, 86_400) == [
        "converted|treated|cart_abandonment|cart|cart_reminder|"
    ]
    assert attribute(state, soon, 86_400) == []  # converted once


def test_turns_count_decisions_and_outcomes_and_hold_out_a_stable_share() -> None:
    actor = CustomerActor(parse_rules(RULES), FakeScorer())
    counters: list[str] = []
    held = 0
    for n in range(40):
        state = CustomerState()
        customer = f"c{n}"
        for i in range(3):
            outcome = asyncio.run(
                actor.on_event(customer, state, event("product_view", customer=customer, at=T0 + i))
            )
            counters += outcome.counters
            held += sum(a.held_out for a in outcome.actions)
        buy = event(
            "purchase",
            customer=customer,
            total=1.0,
            at=T0 + 100,
            items=[{"product_id": "p", "category": "electronics", "price": 1.0}],
        )
        counters += asyncio.run(actor.on_event(customer, state, buy)).counters
    sent = [c for c in counters if c.startswith("sent|")]
    converted = [c for c in counters if c.startswith("converted|")]
    assert len(sent) == 40
    assert len(converted) == 40
    assert 10 < held < 30
    assert sum(c.startswith("sent|holdout|") for c in sent) == held


def test_the_global_control_group_is_stable_and_drawn_apart_from_the_holdouts() -> None:
    customers = [f"c{n}" for n in range(4000)]
    inside = {c for c in customers if in_global_control(c, 0.1)}
    assert 300 < len(inside) < 500  # about a tenth
    assert inside == {c for c in customers if in_global_control(c, 0.1)}
    held = {c for c in customers if in_holdout(c, "spring", 0.1)}
    assert 0 < len(inside & held) < 100  # independent draws: about a hundredth overlap


def test_every_marketing_action_of_a_global_control_customer_is_held() -> None:
    rules = parse_rules(
        """
version: 1
policy: {global_control: 0.5, holdout: {spring: 0.5}}
rules:
  - id: hello
    kind: marketing
    triggers: [page_view]
    action: {type: reengagement, channel: push}
  - id: spring
    kind: marketing
    triggers: [product_view]
    action: {type: reengagement, channel: push, campaign: spring}
"""
    )
    actor = CustomerActor(rules, FakeScorer(), clock=lambda: T0)
    policy = rules.policy
    for n in range(40):
        customer = f"c{n}"
        (hello,) = asyncio.run(
            actor.on_event(customer, CustomerState(), event("page_view", customer))
        ).actions
        (spring,) = asyncio.run(
            actor.on_event(customer, CustomerState(), event("product_view", customer))
        ).actions
        assert hello.held_out is (control_group(customer, None, policy) == "global_control")
        assert spring.held_out is (control_group(customer, "spring", policy) is not None)
