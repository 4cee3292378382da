"""Journeys in a rules file: compiled with the rules, each fault named by journey and step,
and no file accepted whose steps could loop within one turn."""

from __future__ import annotations

import pytest

from actors.errors import RulesRefusedError
from actors.rules.ruleset import parse_rules


def journey(steps: str, head: str = "entry: {events: [cart_add]}") -> str:
    return f"""
version: 1
segments: {{buyers: "customer.orders > 0"}}
journeys:
  - id: j
    {head}
    steps:
{steps}
"""


def faults_of(text: str) -> list[tuple[str, str, str]]:
    with pytest.raises(RulesRefusedError) as refused:
        parse_rules(text)
    return [(f.rule, f.field, f.reason) for f in refused.value.faults]


def test_a_journey_compiles_into_steps_that_know_where_each_leads() -> None:
    rules = parse_rules(
        journey(
            """      - {id: wait, wait: 10m, until: {purchase: bought}}
      - id: nudge
        send: {type: reengagement, channel: push, template: "{customer.orders}"}
      - {id: bought, branch: [{when: segment.buyers, goto: wait}]}"""
        )
    )
    (j,) = rules.journeys
    assert [s.next for s in j.steps] == [1, 2, None]
    assert j.steps[0].until == {"purchase": 2}
    assert j.steps[1].rule is not None
    assert j.steps[1].rule.id == "j.nudge"
    assert j.reminder_kind == "journey.j"


@pytest.mark.parametrize(
    ("steps", "head", "field", "says"),
    [
        ("      - {id: a, wait: 1h, goto: b}\n      - {id: b, exit: true}", None,
         "steps.a", "goto"),
        ("      - {id: a, send: {type: reengagement, channel: push}, until: {purchase: a}}",
         None, "steps.a", "`until` belongs to a wait"),
        ("      - {id: a, wait: 1h, exit: true}", None, "steps.a", "exactly one of"),
        ("      - {id: a, branch: [{when: 'cart.items > 0', goto: nowhere}]}", None,
         "steps.a", "no step named 'nowhere'"),
        ("      - {id: a, send: {type: reengagement, channel: push}, goto: b}\n"
         "      - {id: b, branch: [{when: 'cart.items > 0', goto: a}]}", None,
         "steps", "loop back to it without a wait"),
        ("      - {id: a, send: {type: fraud_alert, channel: alert}}", None,
         "steps.a.send", "fraud rules"),
        ("      - {id: a, send: {type: reengagement, channel: pigeon}}", None,
         "steps.a.send.channel", "Input should be"),
        ("      - {id: a, send: {type: reengagement, channel: push, template: '{cart.nope}'}}",
         None, "steps.a.send.template", "no field 'nope'"),
        ("      - {id: a, branch: [{when: segment.lapsed, goto: a}]}", None,
         "steps.a.branch", "no segment named 'lapsed'"),
        ("      - {id: a, exit: true}", "entry: {events: [cart_ad]}", "entry.events", "cart_ad"),
        ("      - {id: a, exit: true}", "entry: {events: [cart_add], when: 'event.amount > 1'}",
         "when / action", "event has no field 'amount'"),
    ],
)  # fmt: skip
def test_each_fault_names_the_journey_and_step(
    steps: str, head: str | None, field: str, says: str
) -> None:
    text = journey(steps, head) if head else journey(steps)
    found = faults_of(text)
    assert any(r == "journey:j" and f == field and says in why for r, f, why in found), found


def test_journey_ids_are_unique() -> None:
    text = """
version: 1
journeys:
  - {id: j, entry: {events: [cart_add]}, steps: [{id: a, exit: true}]}
  - {id: j, entry: {events: [purchase]}, steps: [{id: a, exit: true}]}
"""
    assert faults_of(text) == [("journey:j", "id", "duplicate journey id")]


def test_a_disabled_journey_is_checked_but_never_runs() -> None:
    text = """
version: 1
journeys:
  - {id: j, enabled: false, entry: {events: [cart_add]}, steps: [{id: a, exit: true}]}
"""
    assert parse_rules(text).journeys == ()
    assert faults_of(text.replace("exit: true", "exit: true, goto: z"))
