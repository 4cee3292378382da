"""Audiences: named conditions over the customer's state, defined once in the rules file
and read by rules, reminders and offers as `segment.<name>`."""

from __future__ import annotations

import asyncio

import pytest

from actors.errors import RulesRefusedError
from actors.model.state import CustomerState
from actors.rules.context import Before, build_context
from actors.rules.ruleset import parse_rules
from actors.turn.actor import CustomerActor
from tests.support import T0, FakeScorer, event

RULES = """
version: 1
segments:
  repeat_buyers: "customer.orders >= 2"
  big_cart: "cart.value > 150"
rules:
  - id: thank_repeat_buyers
    kind: service
    triggers: [purchase]
    when: segment.repeat_buyers and not segment.big_cart
    action: {type: reengagement, channel: in_app}
"""


def run(actor: CustomerActor, state: CustomerState, e: object) -> list[str]:
    outcome = asyncio.run(actor.on_event("c1", state, e))  # type: ignore[arg-type]
    return [a.rule_id for a in outcome.actions]


def test_a_rule_reads_a_segment_by_name_and_fires_only_for_its_members() -> None:
    actor = CustomerActor(parse_rules(RULES), FakeScorer(), clock=lambda: T0)
    state = CustomerState()
    assert run(actor, state, event("purchase", order_id="o1", at=T0)) == []
    assert run(actor, state, event("purchase", order_id="o2", at=T0 + 60)) == [
        "thank_repeat_buyers"
    ]


def test_the_segments_a_customer_is_in_are_saved_with_its_state_after_each_event() -> None:
    actor = CustomerActor(parse_rules(RULES), FakeScorer(), clock=lambda: T0)
    state = CustomerState()
    run(actor, state, event("cart_add", price=200.0, at=T0))
    assert state.segments == ["big_cart"]
    run(actor, state, event("purchase", order_id="o1", total=200.0, at=T0 + 1))
    run(actor, state, event("purchase", order_id="o2", total=10.0, at=T0 + 2))
    assert state.segments == ["repeat_buyers"]  # the purchase emptied the cart


def test_rules_without_segments_leave_a_customer_in_none() -> None:
    actor = CustomerActor(parse_rules(RULES), FakeScorer(), clock=lambda: T0)
    state = CustomerState()
    run(actor, state, event("cart_add", price=200.0, at=T0))
    assert state.segments == ["big_cart"]
    actor.rules = parse_rules("version: 1\nrules: []\n")
    run(actor, state, event("page_view", at=T0 + 1))
    assert state.segments is None


def test_a_segment_is_evaluated_on_the_turns_own_context() -> None:
    rules = parse_rules(RULES)
    state = CustomerState()
    state.apply(event("purchase", order_id="o1", at=T0))
    state.apply(event("purchase", order_id="o2", at=T0 + 1))
    context = build_context("c1", state, T0 + 2, None, Before(0.0, None), 0.0, rules.segments)
    assert dict(context["segment"]) == {"repeat_buyers": True, "big_cart": False}


@pytest.mark.parametrize(
    ("segments", "rule_when", "owner", "says"),
    [
        ({"lapsed": "event.amount > 3"}, None, "segment:lapsed", "not 'event'"),
        ({"lapsed": "scores.fraud > 0.5"}, None, "segment:lapsed", "not 'scores'"),
        ({"lapsed": "customer.ordres > 1"}, None, "segment:lapsed", "no field 'ordres'"),
        ({"lapsed": "customer.orders >"}, None, "segment:lapsed", "at "),
        ({"Lapsed": "customer.orders > 1"}, None, "<file>", "segment name 'Lapsed'"),
        ({}, "segment.lapsed", "r1", "no segment named 'lapsed'"),
        ({"lapsed": "customer.orders > 1"}, "segment.lapsd", "r1", "(segments: lapsed)"),
    ],
)
def test_a_fault_in_a_segment_or_its_use_is_named(
    segments: dict[str, str], rule_when: str | None, owner: str, says: str
) -> None:
    lines = ["version: 1", "segments:"] if segments else ["version: 1"]
    lines += [f'  {name}: "{condition}"' for name, condition in segments.items()]
    lines += [
        "rules:",
        "  - id: r1",
        "    kind: service",
        "    triggers: [purchase]",
        "    action: {type: reengagement, channel: in_app}",
    ]
    if rule_when:
        lines.append(f"    when: {rule_when}")
    with pytest.raises(RulesRefusedError) as refused:
        parse_rules("\n".join(lines) + "\n")
    faults = [(f.rule, f.reason) for f in refused.value.faults]
    assert any(rule == owner and says in reason for rule, reason in faults), faults


def test_every_faulty_segment_is_named_at_once() -> None:
    text = """
version: 1
segments:
  one: "event.x > 1"
  two: "customer.nope"
rules: []
"""
    with pytest.raises(RulesRefusedError) as refused:
        parse_rules(text)
    assert [f.rule for f in refused.value.faults] == ["segment:one", "segment:two"]
