"""Rules files: validated in full, faults reported by rule and field."""

from __future__ import annotations

import pytest

from actors.errors import RuleError, RulesRefusedError
from actors.rules.ruleset import load_rules, parse_rules

VALID = """
version: 1
reminders:
  - kind: cart_abandonment
    set_on: [cart_add]
    cancel_on: [purchase]
    after: 30m
rules:
  - id: browse
    kind: marketing
    triggers: [product_view]
    when: session.category_views >= 3 and scores.offer_p > 0.1
    priority: 5
    cooldown: 1h
    action: {type: offer, channel: push, template: "{offer.title}"}
  - id: remind
    kind: marketing
    triggers: ["reminder:cart_abandonment"]
    action: {type: cart_reminder, channel: email}
"""


def test_the_shipped_defaults_are_valid_and_cover_each_use_case() -> None:
    rules = load_rules()
    ids = {r.id for r in rules.rules}
    assert {
        "fraud_alert",
        "browse_offer",
        "cart_abandonment",
        "welcome_back",
        "next_content",
    } <= ids
    assert {r.spec.kind for r in rules.reminders} == {"cart_abandonment", "reengagement"}


def test_a_valid_file_compiles_with_durations_and_models() -> None:
    rules = parse_rules(VALID)
    (browse,) = rules.for_trigger("product_view")
    assert browse.spec.cooldown == 3600
    assert browse.models == frozenset({"recommender"})
    assert rules.reminders[0].spec.after == 1800
    assert rules.models_for("card_payment") == frozenset()


def test_rules_for_a_trigger_come_highest_priority_first() -> None:
    extra = """
  - id: browse_more
    kind: service
    triggers: [product_view]
    priority: 50
    action: {type: content_recommendation, channel: in_app}
"""
    rules = parse_rules(VALID + extra)
    assert [r.id for r in rules.for_trigger("product_view")] == ["browse_more", "browse"]


@pytest.mark.parametrize(
    ("change", "rule", "field", "reason"),
    [
        (
            ("channel: push", "channel: carrier_pigeon"),
            "browse",
            "action.channel",
            "Input should be",
        ),
        (("cooldown: 1h", "cooldown: soon"), "browse", "cooldown", "not a duration"),
        (("scores.offer_p > 0.1", "scores.offer_p >"), "browse", "when", "unexpected"),
        (("scores.offer_p", "scores.Mood"), "browse", "when", "no field 'Mood'"),
        (("session.category_views", "sesion.category_views"), "browse", "when", "unknown name"),
        (("[product_view]", "[product_peek]"), "browse", "triggers", "unknown event type"),
        (("reminder:cart_abandonment", "reminder:nope"), "remind", "triggers", "no reminder"),
        (("{offer.title}", "{offer.colour}"), "browse", "action.template", "no field 'colour'"),
        (("id: remind", "id: browse"), "browse", "id", "duplicate"),
        (("priority: 5", "priority: high"), "browse", "priority", "valid integer"),
    ],
)
def test_faults_name_the_rule_and_the_field(
    change: tuple[str, str], rule: str, field: str, reason: str
) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(VALID.replace(*change))
    assert (caught.value.rule, caught.value.field) == (rule, field)
    assert reason in caught.value.reason


OWN_MODEL = """
version: 1
rules:
  - id: save_the_subscriber
    kind: service
    triggers: [login]
    when: scores.churn > 0.7
    action: {type: content_recommendation, channel: email, template: "p={scores.churn}"}
  - id: upgrade
    kind: marketing
    triggers: [content_view]
    when: scores.upgrade > 0.5 and scores.churn < 0.2
    action: {type: offer, channel: in_app}
"""


def test_a_rule_reads_a_model_of_the_teams_own_by_its_name() -> None:
    rules = parse_rules(OWN_MODEL)
    assert rules.for_trigger("login")[0].models == frozenset({"churn"})
    assert rules.own_models == {
        "churn": ("save_the_subscriber", "upgrade"),
        "upgrade": ("upgrade",),
    }
    assert parse_rules(OWN_MODEL, registered={"churn", "upgrade"}).own_models == rules.own_models


def test_a_model_the_registry_does_not_know_is_refused_with_every_other_fault() -> None:
    with pytest.raises(RulesRefusedError) as caught:
        parse_rules(OWN_MODEL.replace("triggers: [login]", "triggers: [lgoin]"), registered={"up"})
    faults = [(f.rule, f.field, f.reason) for f in caught.value.faults]
    # Every fault at once: the misspelt trigger, and each model the registry lacks.
    assert [(rule, field) for rule, field, _ in faults] == [
        ("save_the_subscriber", "triggers"),
        ("upgrade", "when"),
        ("upgrade", "when"),
    ]
    assert "no model named 'churn' is registered" in faults[1][2]
    assert "no model named 'upgrade' is registered" in faults[2][2]
    in_template = OWN_MODEL.replace("when: scores.churn > 0.7", "when: customer.orders > 0")
    with pytest.raises(RulesRefusedError) as caught:
        parse_rules(in_template, registered={"upgrade"})
    assert caught.value.faults[0].field == "action.template"


def test_the_built_in_scores_need_no_registration() -> None:
    assert parse_rules(VALID).own_models == {}
    load_rules(registered=set())


def test_fraud_alerts_must_come_from_fraud_rules_on_payments() -> None:
    text = VALID.replace("type: offer", "type: fraud_alert")
    with pytest.raises(RuleError) as caught:
        parse_rules(text)
    assert caught.value.field == "kind"


def test_not_yaml_is_refused() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules("rules: [unclosed")
    assert caught.value.field == "<yaml>"


def test_a_missing_file_is_a_rule_error() -> None:
    with pytest.raises(RuleError, match="No such file"):
        load_rules("/nonexistent/rules.yaml")


def test_an_event_field_the_triggers_do_not_have_is_refused_with_the_fields_they_have() -> None:
    """A misspelt `event.nme` would read as missing at every turn: the rule would never
    fire and nothing would say why. Custom events have `name` and `properties`."""
    rule = """
rules:
  - id: help
    kind: service
    triggers: [custom]
    when: event.{field} == "Checkout Step Viewed"
    action: {{type: content_recommendation, channel: in_app, template: "x"}}
"""
    parse_rules(rule.format(field="name"))
    with pytest.raises(RuleError) as caught:
        parse_rules(rule.format(field="nme"))
    assert "event has no field 'nme' for triggers custom" in str(caught.value)
    assert "name, properties" in str(caught.value)
