"""E-mail templates in the rules file (actors.rules.emails): refused at push when they
cannot be compiled, chosen by rule, campaign or type, in the customer's locale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actors.errors import RulesRefusedError
from actors.model.actions import ReengagementAction
from actors.rules.emails import RenderError, render
from actors.rules.ruleset import parse_rules


def emails(section: str) -> str:
    return "emails:\n" + section


def action(**update: object) -> ReengagementAction:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    return ReengagementAction(
        action_id="act_1",
        idempotency_key="k1",
        customer_id="c1",
        rule_id="winback",
        kind="marketing",
        channel="email",
        sink="email",
        campaign="spring",
        trigger_event_id="e1",
        trigger="reminder:reengagement",
        event_time=now,
        created_at=now,
        days_inactive=40.0,
        message="Come back",
    ).model_copy(update=update)


def test_a_template_that_does_not_compile_refuses_the_rules_naming_the_part() -> None:
    text = emails(
        """
  winback:
    locales:
      en: {subject: "Hi", text: "ok", html: "{% if days_inactive > 30 %}unclosed"}
"""
    )
    with pytest.raises(RulesRefusedError) as refused:
        parse_rules(text)
    (fault,) = refused.value.faults
    assert (fault.rule, fault.field) == ("email:winback", "locales.en.html")


def test_a_default_locale_must_be_one_of_the_locales() -> None:
    with pytest.raises(RulesRefusedError, match="default_locale 'de'"):
        parse_rules(emails("  winback: {default_locale: de, locales: {en: {subject: a, text: b}}}"))


def test_the_rule_s_template_comes_before_the_campaign_s_and_the_type_s() -> None:
    rules = parse_rules(
        emails(
            """
  winback: {locales: {en: {subject: "rule", text: "r"}}}
  spring: {locales: {en: {subject: "campaign", text: "c"}}}
  reengagement: {locales: {en: {subject: "type", text: "t"}}}
"""
        )
    )
    assert render(action(), rules.emails, None).subject == "rule"
    assert render(action(rule_id="other"), rules.emails, None).subject == "campaign"
    assert render(action(rule_id="other", campaign=None), rules.emails, None).subject == "type"


def test_without_a_template_the_action_s_message_is_sent_under_a_plain_subject() -> None:
    written = render(action(), {}, None)
    assert (written.subject, written.text, written.html) == (
        "We miss you",
        "Come back",
        "<p>Come back</p>",
    )


def test_a_missing_field_is_named_in_the_reason() -> None:
    rules = parse_rules(
        emails('  winback: {locales: {en: {subject: "{{ payload.code }}", text: x}}}')
    )
    with pytest.raises(RenderError, match=r"template winback \(en\): .*code"):
        render(action(), rules.emails, None)
