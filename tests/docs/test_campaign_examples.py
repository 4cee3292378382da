"""The worked campaigns of docs/campaigns.md: each file is valid, and each journey does on
a replayed stream what the page says it does."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from actors.rules.emails import render
from actors.rules.ruleset import RuleSet, load_rules
from engage.backtest import Decided
from tests.engage.test_backtest import NOON, run
from tests.support import event

CAMPAIGNS = Path(__file__).parents[2] / "docs" / "campaigns"
DAY = 86_400.0


def rules(domain: str) -> RuleSet:
    return load_rules(CAMPAIGNS / f"{domain}.yaml")


def sends(decided: list[Decided]) -> Counter[tuple[str, str]]:
    return Counter((d.action.customer_id, d.action.rule_id) for d in decided)


@pytest.mark.parametrize("domain", ["retail", "banking", "media"])
def test_each_worked_campaign_is_a_valid_rules_file_with_segments_and_a_journey(
    domain: str,
) -> None:
    compiled = rules(domain)
    assert compiled.segments
    assert compiled.journeys


def test_retail_cart_recovery_emails_then_offers_and_a_purchase_ends_it() -> None:
    events = [
        event("identify", "big", NOON - 60, email="big@example.com"),
        event("cart_add", "big", NOON, price=200.0),
        event("identify", "small", NOON - 60, email="small@example.com"),
        event("cart_add", "small", NOON, price=20.0),
        event("identify", "bought", NOON - 60, email="bought@example.com"),
        event("cart_add", "bought", NOON),
        event("purchase", "bought", NOON + 600),
    ]
    decided = run(events, rules("retail"), until=NOON + 2 * DAY)
    assert sends(decided) == Counter(
        {
            ("big", "cart_recovery.email"): 1,
            ("big", "cart_recovery.push_offer"): 1,
            ("small", "cart_recovery.email"): 1,
            ("small", "cart_recovery.push_reminder"): 1,
        }
    )


def test_retail_cart_recovery_emails_are_written_by_the_files_templates_per_locale() -> None:
    events = [
        event("identify", "ann", NOON - 60, email="ann@example.com", traits={"locale": "fr-FR"}),
        event("cart_add", "ann", NOON, price=200.0),
        event("identify", "bob", NOON - 60, email="bob@example.com"),
        event("cart_add", "bob", NOON, price=20.0),
    ]
    retail = rules("retail")
    decided = run(events, retail, until=NOON + 3600)
    mails = {d.action.customer_id: d.action for d in decided if d.action.channel == "email"}
    url = "https://engage.example/v1/email/unsubscribe?t=x"
    french, english = (
        render(mails["ann"], retail.emails, url),
        render(mails["bob"], retail.emails, url),
    )
    assert (french.template, french.locale) == ("cart_recovery", "fr")
    assert french.subject == "1 article(s) vous attendent"
    assert "La livraison est offerte." in french.text
    assert english.subject == "1 item waiting in your cart"
    assert "Hello there," in english.text
    assert "Delivery is on us" not in english.text
    assert english.html is not None
    assert f'<a href="{url}">Unsubscribe</a>' in english.html


def test_banking_card_activation_nudges_until_the_first_card_payment() -> None:
    events = [
        event("identify", "new", NOON, email="new@example.com"),
        event("identify", "paid", NOON, email="paid@example.com"),
        event("card_payment", "paid", NOON + 3 * DAY, amount=20.0),
    ]
    decided = run(events, rules("banking"), until=NOON + 6 * DAY)
    assert sends(decided) == Counter(
        {
            ("new", "card_activation.nudge"): 1,
            ("new", "card_activation.offer"): 1,
            ("paid", "card_activation.nudge"): 1,
            ("paid", "fraud_alert"): 1,  # every payment looks like fraud to the test's scorer
        }
    )


def test_media_come_back_reminds_the_next_evening_unless_they_watch_again() -> None:
    events = [
        event("content_view", "left", NOON, completion=0.3, genre="drama"),
        event("content_view", "watched", NOON, completion=0.3),
        event("content_view", "watched", NOON + 3600, completion=0.95),
    ]
    decided = run(events, rules("media"), until=NOON + DAY)
    assert sends(decided) == Counter({("left", "come_back_to_it.drama"): 1})
