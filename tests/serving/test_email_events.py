"""Bounces and complaints in each provider's own shape (serving.email_events)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serving.email_events import UnknownShapeError, read


def found(body: Any) -> list[tuple[str, str, str]]:
    return [(s.address, s.kind, s.provider) for s in read(body).suppressions]


def ses(message: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "m1", "Message": json.dumps(message)}


def test_sendgrid_hard_bounces_and_spam_reports_suppress_blocks_and_opens_do_not() -> None:
    body = [
        {"event": "bounce", "type": "bounce", "email": "Gone@Example.com", "reason": "550"},
        {"event": "bounce", "type": "blocked", "email": "busy@example.com"},
        {"event": "spamreport", "email": "angry@example.com"},
        {"event": "open", "email": "reader@example.com"},
    ]
    assert found(body) == [
        ("gone@example.com", "bounce", "sendgrid"),
        ("angry@example.com", "complaint", "sendgrid"),
    ]
    assert read(body).ignored == 2


def test_amazon_ses_through_sns_permanent_bounces_and_complaints() -> None:
    bounce = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@x.io"}],
        },
    }
    transient = {
        "eventType": "Bounce",
        "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "c@x.io"}]},
    }
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "d@example.com"}]},
    }
    assert found(ses(bounce)) == [
        ("a@example.com", "bounce", "ses"),
        ("b@x.io", "bounce", "ses"),
    ]
    assert read(ses(bounce)).suppressions[0].detail == "Permanent/General"
    assert found(ses(transient)) == []
    assert found(ses(complaint)) == [("d@example.com", "complaint", "ses")]


def test_an_sns_subscription_answers_the_url_to_confirm_it() -> None:
    body = {"Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns.example/confirm"}
    assert read(body).confirm_url == "https://sns.example/confirm"


def test_postmark_and_mailgun() -> None:
    assert found({"RecordType": "Bounce", "Type": "HardBounce", "Email": "p@x.io"}) == [
        ("p@x.io", "bounce", "postmark")
    ]
    assert found({"RecordType": "Bounce", "Type": "SoftBounce", "Email": "p@x.io"}) == []
    assert found({"RecordType": "SpamComplaint", "Email": "q@x.io"}) == [
        ("q@x.io", "complaint", "postmark")
    ]
    failed = {"event": "failed", "severity": "permanent", "recipient": "m@x.io"}
    assert found({"event-data": failed}) == [("m@x.io", "bounce", "mailgun")]
    assert found({"event-data": {**failed, "severity": "temporary"}}) == []
    assert found({"event-data": {"event": "complained", "recipient": "n@x.io"}}) == [
        ("n@x.io", "complaint", "mailgun")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hello": 1}, "<body>"),
        ("text", "<body>"),
        ({"Type": "Notification", "Message": "{"}, "Message"),
    ],
)
def test_a_body_no_provider_sends_is_refused_naming_what_was_looked_for(
    body: Any, field: str
) -> None:
    with pytest.raises(UnknownShapeError) as refused:
        read(body)
    assert refused.value.field == field
