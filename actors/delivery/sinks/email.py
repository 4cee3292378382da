"""Actions as e-mail over SMTP, to the customer's address from its `identify` events.

Each e-mail is written from the rules' Liquid templates (actors.rules.emails): a subject,
a text part and, where the template has one, an HTML part (multipart/alternative), in
the customer's locale. Every marketing e-mail carries the one-click unsubscribe of
RFC 8058 (`List-Unsubscribe`, `List-Unsubscribe-Post`) and a visible link; without an
unsubscribe URL and secret configured, marketing e-mail is not sent at all.

What cannot be sent is final, with a reason that names it (dead-lettered, and replayable
with `engage dlq replay` once fixed): no address, a template field the action lacks, no
unsubscribe link for marketing, a refused recipient. A connection or server failure is
retried by the dispatcher.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from actors.delivery.mail import unsubscribe
from actors.delivery.sinks.base import Delivery
from actors.model.actions import Action
from actors.rules.emails import EmailTemplate, RenderError, render

NO_UNSUBSCRIBE = (
    "no unsubscribe link for a marketing e-mail: set ENGAGE_SINKS_EMAIL_UNSUBSCRIBE_URL "
    "and ENGAGE_SINKS_EMAIL_UNSUBSCRIBE_SECRET"
)


# A header may be 998 characters long (RFC 5322): a long unsubscribe link stays on one
# line, not folded into encoded words no mailbox provider would read as a URL.
UNFOLDED = policy.SMTP.clone(max_line_length=998)


class Unsubscribe:
    """Mints each marketing e-mail's one-click unsubscribe link."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url
        self.secret = secret

    def url_for(self, customer_id: str) -> str:
        return unsubscribe.link(self.base_url, unsubscribe.mint(self.secret, customer_id))


def compose(
    action: Action,
    sender: str,
    templates: Mapping[str, EmailTemplate] | None = None,
    links: Unsubscribe | None = None,
) -> EmailMessage:
    """The action's e-mail; RenderError when it cannot be written (the reason says why)."""
    url = links.url_for(action.customer_id) if links and action.kind == "marketing" else None
    if action.kind == "marketing" and url is None:
        raise RenderError(NO_UNSUBSCRIBE)
    written = render(action, templates or {}, url)
    message = EmailMessage(policy=UNFOLDED)
    message["From"] = sender
    message["To"] = action.contact or ""
    message["Subject"] = written.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{action.action_id}@engage>"
    message["X-Engage-Idempotency-Key"] = action.idempotency_key
    message["X-Engage-Template"] = written.template
    if url is not None:
        message["List-Unsubscribe"] = f"<{url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(written.text)
    if written.html is not None:
        message.add_alternative(written.html, subtype="html")
    # After the parts: setting content clears a message's Content-* headers.
    message["Content-Language"] = written.locale
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
        templates: Callable[[], Mapping[str, EmailTemplate]] = dict,
        links: Unsubscribe | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = timeout_s
        self.templates = templates
        self.links = links

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return await asyncio.to_thread(self._send_all, actions)

    def _write_all(
        self, actions: Sequence[Action]
    ) -> tuple[list[Delivery | None], dict[int, EmailMessage]]:
        results: list[Delivery | None] = [None] * len(actions)
        written: dict[int, EmailMessage] = {}
        templates = self.templates()
        for i, action in enumerate(actions):
            if not action.contact:
                results[i] = Delivery.failed("customer has no e-mail address", retryable=False)
                continue
            try:
                written[i] = compose(action, self.sender, templates, self.links)
            except RenderError as error:
                results[i] = Delivery.failed(error.reason, retryable=False)
        return results, written

    def _send_all(self, actions: Sequence[Action]) -> list[Delivery]:
        results, written = self._write_all(actions)
        if not written:
            return [r for r in results if r is not None]
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                for i, message in written.items():
                    results[i] = self._send_one(smtp, message)
        except (OSError, smtplib.SMTPException) as error:
            for i in written:
                if results[i] is None:
                    results[i] = Delivery.failed(f"smtp: {error}")
        return [r if r is not None else Delivery.failed("not attempted") for r in results]

    def _send_one(self, smtp: smtplib.SMTP, message: EmailMessage) -> Delivery:
        try:
            smtp.send_message(message)
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
