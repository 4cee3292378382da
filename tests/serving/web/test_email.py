"""E-mail's edges over HTTP: the one-click unsubscribe of a real e-mail, and the
providers' bounce and complaint webhook (serving.web.email)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest

from actors.delivery.mail.suppressions import MemorySuppressions, Suppression, suppression
from actors.delivery.mail.unsubscribe import mint
from actors.delivery.sinks.email import EmailSink, Unsubscribe
from actors.errors import StoreUnavailableError
from actors.model.events import Identify
from actors.model.state import CustomerState
from tests.actors.delivery.sinks.test_email import cart_nudge
from tests.mailbox import smtp_server
from tests.serving.web.conftest import ADMIN, CLIENT, WRITE, Fakes, fakes, keyed

SECRET = "unsubscribe-secret-of-at-least-32-bytes!"


@pytest.fixture
def mail_api() -> Iterator[Fakes]:
    with fakes(keyed(unsubscribe_secrets=[SECRET])) as api:
        yield api


def suppressions(api: Fakes) -> MemorySuppressions:
    store = api.client.app.state.served.backends.suppressions  # type: ignore[attr-defined]
    assert isinstance(store, MemorySuppressions)
    return store


def test_the_one_click_post_of_a_real_emails_header_withdraws_email_marketing(
    mail_api: Fakes,
) -> None:
    # Given a marketing e-mail as an SMTP server received it
    with smtp_server() as (mailbox, port):
        links = Unsubscribe("https://engage.example/v1/email/unsubscribe", SECRET)
        sink = EmailSink("127.0.0.1", port, links=links)
        asyncio.run(sink.deliver([cart_nudge(payload={"note": "n"})]))
    ((_, message),) = mailbox.messages
    url = urlsplit(message["List-Unsubscribe"].strip("<>"))
    # when the mailbox provider posts RFC 8058's one-click body to it, twice
    for _ in range(2):
        answer = mail_api.client.post(
            f"{url.path}?{url.query}",
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200
    # then the customer's stream gets one withdrawal (the same event twice: applied once)
    first, again = mail_api.publisher.published
    assert isinstance(first, Identify)
    assert first.event_id == again.event_id
    assert first.actor_id == "c7"
    state = CustomerState()
    state.apply(first)
    assert state.consent == {"email.marketing": False}


def test_opening_the_link_only_asks_a_scanner_unsubscribes_no_one(mail_api: Fakes) -> None:
    page = mail_api.client.get("/v1/email/unsubscribe", params={"t": mint(SECRET, "c1")})
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert mail_api.publisher.published == []


def test_a_token_that_does_not_verify_is_a_422_naming_it(mail_api: Fakes) -> None:
    forged = mint("another-secret-of-at-least-32-bytes!!!", "c1")
    answer = mail_api.client.post("/v1/email/unsubscribe", params={"t": forged})
    assert answer.status_code == 422
    assert answer.json()["fields"][0] == {
        "field": "query.t",
        "message": "no unsubscribe secret verifies the token",
    }
    assert mail_api.publisher.published == []


def test_a_providers_bounces_suppress_addresses_with_a_write_key(api: Fakes) -> None:
    body: list[dict[str, Any]] = [
        {"event": "bounce", "type": "bounce", "email": "gone@example.com"},
        {"event": "delivered", "email": "fine@example.com"},
    ]
    answer = api.request("POST", "/v1/email/events", WRITE, json=body)
    assert answer.json() == {"suppressed": 1, "ignored": 1, "confirm_url": None}
    held = asyncio.run(suppressions(api).of(["gone@example.com"]))
    assert held["gone@example.com"].kind == "bounce"
    # A client key sits in pages: it cannot suppress anyone's e-mail.
    assert api.request("POST", "/v1/email/events", CLIENT, json=body).status_code == 403


def test_a_body_of_no_known_provider_is_a_422(api: Fakes) -> None:
    answer = api.request("POST", "/v1/email/events", WRITE, json={"hello": "world"})
    assert answer.status_code == 422
    assert "SendGrid" in answer.text


def test_an_operator_lists_and_lifts_suppressions(api: Fakes) -> None:
    asyncio.run(suppressions(api).add([suppression("a@example.com", "bounce", "ses", "5.1.1")]))
    listed = api.request("GET", "/v1/email/suppressions", ADMIN).json()
    assert [s["address"] for s in listed] == ["a@example.com"]
    assert api.request("DELETE", "/v1/email/suppressions/A@example.com", ADMIN).status_code == 200
    assert api.request("DELETE", "/v1/email/suppressions/a@example.com", ADMIN).status_code == 404


class UnreachableSuppressions(MemorySuppressions):
    async def add(self, suppressions: Sequence[Suppression]) -> None:
        raise StoreUnavailableError("suppressions", "Connection refused")


def test_a_webhook_call_while_redis_is_out_of_reach_is_a_503_the_provider_retries(
    api: Fakes,
) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.suppressions = UnreachableSuppressions()
    body = [{"event": "bounce", "type": "bounce", "email": "gone@example.com"}]
    answer = api.request("POST", "/v1/email/events", WRITE, json=body)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"


def test_an_unsubscribe_while_the_broker_is_out_of_reach_is_a_503(mail_api: Fakes) -> None:
    mail_api.publisher.down = "broker unreachable"
    answer = mail_api.client.post("/v1/email/unsubscribe", params={"t": mint(SECRET, "c1")})
    assert answer.status_code == 503
