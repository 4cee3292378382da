"""The e-mail sink against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from actors.delivery.sinks.email import EmailSink
from engage.processes import free_port
from tests.actors.delivery.test_outbox import make_action


class Mailbox:
    """An aiosmtpd handler; aiosmtpd names the hooks handle_RCPT and handle_DATA."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


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
    assert "More drama" in message.get_payload()


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
