"""Bounces and complaints as e-mail providers report them, read into one shape.

Each provider posts its own JSON to the webhook (`POST /v1/email/events`); engage reads
the four most teams use, recognised by their shape:

- SendGrid's Event Webhook, a list of `{"event", "email", "type"}`: `bounce` (of type
  `bounce`, not `blocked`) and `spamreport`;
- Amazon SES through SNS, `{"Type": "Notification", "Message": "<JSON>"}`: `Bounce` with
  `bounceType: Permanent`, and `Complaint`;
- Postmark, `{"RecordType", "Email", "Type"}`: `Bounce` of type `HardBounce`, and
  `SpamComplaint`;
- Mailgun, `{"event-data": {"event", "recipient", "severity"}}`: `failed` with
  `severity: permanent`, and `complained`.

Anything else a provider reports (a soft bounce, a delivery, an open) is counted as
ignored: engage's own pixel and feedback record opens and clicks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from actors.delivery.mail.suppressions import Suppression, SuppressionKind, suppression


class UnknownShapeError(ValueError):
    """The body is not one of the providers' shapes: `field` names what was looked for."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Reported:
    suppressions: list[Suppression]
    ignored: int
    # An SNS topic's subscription waits for this URL to be visited (by the operator).
    confirm_url: str | None = None


def read(body: Any) -> Reported:
    """What a provider's webhook body reports; UnknownShapeError if none matches."""
    if isinstance(body, list):
        return _collect(_sendgrid(body))
    if not isinstance(body, dict):
        raise UnknownShapeError("<body>", "a JSON object or list from a known provider")
    if ("Type" in body and "Message" in body) or body.get("Type") == "SubscriptionConfirmation":
        return _ses(body)
    if "RecordType" in body:
        return _collect(_postmark(body))
    if isinstance(body.get("event-data"), dict):
        return _collect(_mailgun(body["event-data"]))
    raise UnknownShapeError("<body>", "not a SendGrid, Amazon SES (SNS), Postmark or Mailgun event")


Found = tuple[str, SuppressionKind, str, str] | None  # address, kind, provider, detail


def _collect(found: Iterator[Found]) -> Reported:
    kept: list[Suppression] = []
    ignored = 0
    for item in found:
        if item is None or not item[0] or "@" not in item[0]:
            ignored += 1
        else:
            kept.append(suppression(*item))
    return Reported(kept, ignored)


def _sendgrid(events: list[Any]) -> Iterator[Found]:
    for event in events:
        if not isinstance(event, dict):
            yield None
            continue
        kind, address = event.get("event"), str(event.get("email") or "")
        if kind == "bounce" and event.get("type", "bounce") == "bounce":
            yield address, "bounce", "sendgrid", str(event.get("reason") or "bounce")
        elif kind == "spamreport":
            yield address, "complaint", "sendgrid", "spam report"
        else:
            yield None


def _ses(envelope: dict[str, Any]) -> Reported:
    if envelope.get("Type") == "SubscriptionConfirmation":
        url = envelope.get("SubscribeURL")
        return Reported([], 0, url if isinstance(url, str) else None)
    try:
        message = orjson.loads(envelope["Message"])
    except (orjson.JSONDecodeError, TypeError):
        raise UnknownShapeError("Message", "an SNS notification's Message is JSON") from None
    if not isinstance(message, dict):
        raise UnknownShapeError("Message", "an SNS notification's Message is an object")
    return _collect(_ses_message(message))


def _ses_message(message: dict[str, Any]) -> Iterator[Found]:
    # SES notifications say `notificationType`, its event publishing `eventType`.
    kind = message.get("notificationType") or message.get("eventType")
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        for recipient in bounce.get("bouncedRecipients") or [None]:
            address = (recipient or {}).get("emailAddress")
            yield (str(address), "bounce", "ses", detail) if permanent and address else None
    elif kind == "Complaint":
        complaint = message.get("complaint") or {}
        for recipient in complaint.get("complainedRecipients") or [None]:
            address = (recipient or {}).get("emailAddress")
            yield (str(address), "complaint", "ses", "complaint") if address else None
    else:
        yield None


def _postmark(record: dict[str, Any]) -> Iterator[Found]:
    address = str(record.get("Email") or "")
    if record.get("RecordType") == "Bounce" and record.get("Type") == "HardBounce":
        yield address, "bounce", "postmark", str(record.get("Description") or "hard bounce")
    elif record.get("RecordType") == "SpamComplaint":
        yield address, "complaint", "postmark", "spam complaint"
    else:
        yield None


def _mailgun(data: dict[str, Any]) -> Iterator[Found]:
    address = str(data.get("recipient") or "")
    if data.get("event") == "failed" and data.get("severity") == "permanent":
        status = data.get("delivery-status") or {}
        detail = str(status.get("description") or status.get("message") or "permanent failure")
        yield address, "bounce", "mailgun", detail
    elif data.get("event") == "complained":
        yield address, "complaint", "mailgun", "complaint"
    else:
        yield None
