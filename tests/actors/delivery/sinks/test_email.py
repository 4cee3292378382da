"""The e-mail sink against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from actors.delivery.mail import unsubscribe
from actors.delivery.sinks.email import NO_UNSUBSCRIBE, EmailSink, Unsubscribe
from actors.model.actions import Action, CartReminderAction
from actors.rules.ruleset import parse_rules
from engage.processes import free_port
from tests.actors.delivery.test_outbox import make_action
from tests.mailbox import Mailbox, smtp_server

SECRET = "unsubscribe-secret-of-at-least-32-bytes!"
LINKS = Unsubscribe("https://engage.example/v1/email/unsubscribe", SECRET)
TEMPLATES = parse_rules(
    """
emails:
  cart_nudge:
    default_locale: en
    locales:
      en:
        subject: "{{ cart_items }} items are waiting"
        text: "Hello {{ payload.first_name | default: 'there' }}, {{ cart_value }} to go."
        html: "<p>Hello {{ payload.first_name | default: 'there' }}</p><p>{{ payload.note }}</p>"
      fr:
        subject: "{{ cart_items }} articles vous attendent"
        text: |
          Bonjour {{ payload.first_name | default: 'vous' }} !
          {% if cart_value > 100 %}Livraison offerte.{% endif %}
          Se désabonner : {{ unsubscribe_url }}
"""
).emails


def parts(message: Any) -> tuple[str, str]:
    """The text and HTML parts of a multipart/alternative e-mail."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_payload()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    return text.get_payload(decode=True).decode(), html.get_payload(decode=True).decode()


def cart_nudge(key: str = "k1", **update: Any) -> Action:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    action = CartReminderAction(
        action_id=f"act_{key}",
        idempotency_key=key,
        customer_id="c7",
        rule_id="cart_nudge",
        kind="marketing",
        channel="email",
        sink="email",
        trigger_event_id="e1",
        trigger="cart_add",
        event_time=now,
        created_at=now,
        cart_items=3,
        cart_value=140.0,
        contact="ann@example.com",
        payload={"note": "<b>5% off</b>"},
    )
    return action.model_copy(update=update)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


def test_an_action_is_mailed_to_the_customers_address(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    sink = EmailSink("127.0.0.1", port, sender="offers@shop.example")
    action = make_action("k1", sink="email").model_copy(
        update={"contact": "ann@example.com", "message": "More drama"}
    )
    (result,) = asyncio.run(sink.deliver([action]))
    assert result.ok
    ((recipients, message),) = mailbox.messages
    assert recipients == ["ann@example.com"]
    assert message["From"] == "offers@shop.example"
    assert message["X-Engage-Idempotency-Key"] == "k1"
    text, html = parts(message)
    assert "More drama" in text
    assert "<p>More drama</p>" in html
    # A service message carries no unsubscribe: it is not marketing.
    assert message["List-Unsubscribe"] is None


def test_no_address_or_a_refused_one_is_final(smtp: tuple[Mailbox, int]) -> None:
    _, port = smtp
    sink = EmailSink("127.0.0.1", port)
    nobody = make_action("k1", sink="email")
    refused = make_action("k2", sink="email").model_copy(update={"contact": "x@refused.example"})
    fine = make_action("k3", sink="email").model_copy(update={"contact": "ok@example.com"})
    results = asyncio.run(sink.deliver([nobody, refused, fine]))
    assert [(r.ok, r.retryable) for r in results] == [(False, False), (False, False), (True, True)]
    assert "no e-mail address" in results[0].reason
    assert "refused the recipient" in results[1].reason


def test_an_unreachable_server_is_worth_retrying() -> None:
    sink = EmailSink("127.0.0.1", free_port(), timeout_s=1.0)
    action = make_action("k1", sink="email").model_copy(update={"contact": "a@b.example"})
    (result,) = asyncio.run(sink.deliver([action]))
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason.startswith("smtp:")


def test_a_marketing_email_carries_a_one_click_unsubscribe_for_its_customer(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    sink = EmailSink("127.0.0.1", port, templates=lambda: TEMPLATES, links=LINKS)
    (result,) = asyncio.run(sink.deliver([cart_nudge()]))
    assert result.ok
    ((_, message),) = mailbox.messages
    assert message["Subject"] == "3 items are waiting"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = message["List-Unsubscribe"]
    assert header.startswith("<https://engage.example/v1/email/unsubscribe?t=")
    token = header.strip("<>").split("t=", 1)[1]
    assert unsubscribe.verify([SECRET], token) == ("c7", "email.marketing")
    text, html = parts(message)
    assert "Hello there, 140.0 to go." in text  # the default where no first name is given
    assert "To stop these e-mails: https://engage.example/" in text  # and a visible link
    assert "&lt;b&gt;5% off&lt;/b&gt;" in html  # HTML escapes what the action carries
    assert "Unsubscribe</a>" in html


def test_the_customers_locale_picks_the_template_and_its_conditionals(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    sink = EmailSink("127.0.0.1", port, templates=lambda: TEMPLATES, links=LINKS)
    asyncio.run(sink.deliver([cart_nudge(locale="fr-CA")]))
    ((_, message),) = mailbox.messages
    assert message["Subject"] == "3 articles vous attendent"
    assert message["Content-Language"] == "fr"
    assert message.get_content_type() == "text/plain"  # this locale has no HTML part
    body = message.get_payload(decode=True).decode()
    assert "Bonjour vous !" in body
    assert "Livraison offerte." in body
    assert "To stop these e-mails" not in body  # the template placed the link itself
    assert "Se désabonner : https://engage.example/v1/email/unsubscribe?t=" in body


def test_a_field_the_template_prints_but_the_action_lacks_holds_it_with_its_name(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    sink = EmailSink("127.0.0.1", port, templates=lambda: TEMPLATES, links=LINKS)
    (result,) = asyncio.run(sink.deliver([cart_nudge(payload={})]))
    assert (result.ok, result.retryable) == (False, False)
    assert result.reason.startswith("template cart_nudge (en):")
    assert "note" in result.reason
    assert mailbox.messages == []


def test_no_marketing_email_goes_out_without_a_way_out(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    sink = EmailSink("127.0.0.1", port, templates=lambda: TEMPLATES)
    (result,) = asyncio.run(sink.deliver([cart_nudge()]))
    assert (result.ok, result.retryable, result.reason) == (False, False, NO_UNSUBSCRIBE)
    assert mailbox.messages == []
