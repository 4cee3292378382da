"""A real SMTP server for tests (aiosmtpd): what engage mails, read back whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller

from engage.processes import free_port


class Mailbox:
    """An aiosmtpd handler; aiosmtpd names the hooks handle_RCPT and handle_DATA.
    Addresses at refused.example are refused (550), as a server refuses an unknown user."""

    def __init__(self, port: int = 0) -> None:
        self.messages: list[Any] = []
        self.port = port

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

    def to(self, address: str) -> list[Any]:
        """The messages received for `address`, oldest first."""
        return [message for rcpt, message in list(self.messages) if address in rcpt]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    port = free_port()
    mailbox = Mailbox(port)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
