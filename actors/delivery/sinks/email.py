"""Actions as e-mail over SMTP, to the customer's address from its `identify` events.

An action without an address cannot be sent (final: dead-lettered with that reason); a
refused recipient is final; a connection or server failure is retried by the dispatcher.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from actors.delivery.sinks.base import Delivery
from actors.model.actions import Action

SUBJECTS = {
    "offer": "An offer picked for you",
    "cart_reminder": "You left something in your cart",
    "fraud_alert": "Please confirm a recent card payment",
    "content_recommendation": "Something new to watch",
    "welcome_back": "Welcome back",
    "reengagement": "We miss you",
}


def compose(action: Action, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = action.contact or ""
    message["Subject"] = SUBJECTS.get(action.type, "A message from us")
    message["Message-ID"] = f"<{action.action_id}@engage>"
    message["X-Engage-Idempotency-Key"] = action.idempotency_key
    message.set_content(action.message or SUBJECTS.get(action.type, ""))
    return message


class EmailSink:
    name = "email"
    # An SMTP server cannot be asked what it has: at most this many e-mails in flight.
    batch_size = 20

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "engage@localhost",
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = timeout_s

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return await asyncio.to_thread(self._send_all, actions)

    def _send_all(self, actions: Sequence[Action]) -> list[Delivery]:
        results: list[Delivery | None] = [None] * len(actions)
        for i, action in enumerate(actions):
            if not action.contact:
                results[i] = Delivery.failed("customer has no e-mail address", retryable=False)
        sendable = [i for i, r in enumerate(results) if r is None]
        if not sendable:
            return [r for r in results if r is not None]
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                for i in sendable:
                    results[i] = self._send_one(smtp, actions[i])
        except (OSError, smtplib.SMTPException) as error:
            for i in sendable:
                if results[i] is None:
                    results[i] = Delivery.failed(f"smtp: {error}")
        return [r if r is not None else Delivery.failed("not attempted") for r in results]

    def _send_one(self, smtp: smtplib.SMTP, action: Action) -> Delivery:
        try:
            smtp.send_message(compose(action, self.sender))
        except smtplib.SMTPRecipientsRefused as error:
            return Delivery.failed(
                f"smtp refused the recipient: {error.recipients}", retryable=False
            )
        except smtplib.SMTPResponseException as error:
            retryable = error.smtp_code >= 400 and error.smtp_code < 500
            return Delivery.failed(f"smtp {error.smtp_code}: {error.smtp_error!r}", retryable)
        return Delivery.delivered()

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        return set()  # cannot tell; receivers dedup on the idempotency key

    async def close(self) -> None:
        return None
