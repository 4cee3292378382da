"""E-mail on the real stack (Kafka, Redis, Ray, a real SMTP server): a marketing e-mail
arrives with its parts and one-click unsubscribe; the provider's POST to that link
withdraws e-mail marketing, so the next one is never decided; an address that
hard-bounced gets nothing, held by the dispatcher with the reason (docs/email.md)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import WRITE_KEY, App
from tests.eventually import eventually
from tests.mailbox import Mailbox
from tests.serving.test_api import wait_context
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def send(app: App, *events: Any) -> None:
    body = {"events": [e.model_dump(mode="json") for e in events]}
    assert app.request("POST", "/v1/events", WRITE_KEY, json=body).status_code == 200


def ask_for_mail(app: App, customer: str, address: str) -> None:
    now = time.time()
    send(
        app,
        event("identify", customer=customer, at=now, email=address),
        event("cart_add", customer=customer, at=now + 1, price=30.0),
        event("custom", customer=customer, at=now + 2, name="Mail My Cart"),
    )


def reasons(app: App, customer: str, rule: str) -> list[str]:
    turns = app.get(f"/v1/customers/{customer}/timeline?limit=50").json()["turns"]
    return [t["rules"][rule] for t in turns if rule in t.get("rules", {})]


def deliveries(app: App, customer: str) -> list[str]:
    turns = app.get(f"/v1/customers/{customer}/timeline?limit=50").json()["turns"]
    return [t["delivery"] for t in turns if "delivery" in t]


def test_a_marketing_email_arrives_and_its_one_click_unsubscribe_stops_the_next(
    engage_app: App, mailbox: Mailbox
) -> None:
    customer = f"mail-{uuid.uuid4().hex[:8]}"
    address = f"{customer}@example.com"
    ask_for_mail(engage_app, customer, address)
    (message,) = eventually(lambda: mailbox.to(address) or None, 60, "the cart e-mail")
    assert message["From"] == "offers@shop.example"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert "1 item(s) in your cart" in text
    assert "To stop these e-mails: https://engage.test/v1/email/unsubscribe?t=" in text
    assert "Unsubscribe</a>" in html

    # The mailbox provider posts the one-click unsubscribe to engage.
    link = urlsplit(message["List-Unsubscribe"].strip("<>"))
    answer = engage_app.request(
        "POST",
        f"{link.path}?{link.query}",
        None,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    wait_context(
        engage_app, customer, lambda c: c["customer"]["consent"].get("email.marketing") is False
    )
    send(engage_app, event("custom", customer=customer, at=time.time() + 5, name="Mail My Cart"))
    eventually(
        lambda: (
            "customer opted out of marketing on email" in reasons(engage_app, customer, "mail_cart")
        ),
        30,
        "the second request refused for consent",
    )
    assert len(mailbox.to(address)) == 1


def test_an_address_that_hard_bounced_gets_no_email_and_the_timeline_says_why(
    engage_app: App, mailbox: Mailbox
) -> None:
    customer = f"bounce-{uuid.uuid4().hex[:8]}"
    address = f"{customer}@example.com"
    bounce = [{"event": "bounce", "type": "bounce", "email": address, "reason": "550 5.1.1"}]
    answer = engage_app.request("POST", "/v1/email/events", WRITE_KEY, json=bounce)
    assert answer.json()["suppressed"] == 1
    ask_for_mail(engage_app, customer, address)
    held = "held (suppress): address suppressed: hard bounce (sendgrid: 550 5.1.1)"
    eventually(lambda: held in deliveries(engage_app, customer), 60, "the e-mail held")
    assert mailbox.to(address) == []
