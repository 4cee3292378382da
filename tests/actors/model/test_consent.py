"""Consent per channel and purpose: the one answer to "may this go to the customer now"
(actors.model.consent), read by the turn, the guardrails and next-best-offer."""

from __future__ import annotations

import pytest

from actors.model.consent import (
    KEYS,
    NEAR_FRAUD,
    blocked,
    expand,
    from_guard_facts,
    guard_facts,
    matrix,
    resolve,
    stricter,
)

HOUR = 3600.0
NONE: frozenset[str] = frozenset()


def test_every_channel_and_purpose_is_granted_until_withdrawn() -> None:
    assert matrix(None, NONE) == dict.fromkeys(KEYS, True)
    assert blocked("marketing", "email", None, NONE, None, 0.0, HOUR) is None
    assert blocked("service", "sms", None, NONE, None, 0.0, HOUR) is None


def test_a_withdrawal_blocks_its_channel_and_purpose_only() -> None:
    consent = {"email.marketing": False}
    assert blocked("marketing", "email", consent, NONE, None, 0.0, HOUR) == (
        "customer opted out of marketing on email"
    )
    assert blocked("marketing", "push", consent, NONE, None, 0.0, HOUR) is None
    assert blocked("service", "email", consent, NONE, None, 0.0, HOUR) is None


def test_service_messages_ask_their_channels_service_consent() -> None:
    consent = {"sms.service": False}
    assert blocked("service", "sms", consent, NONE, None, 0.0, HOUR) == (
        "customer opted out of service on sms"
    )
    assert blocked("service", "email", consent, NONE, None, 0.0, HOUR) is None


def test_fraud_alerts_and_channels_consent_does_not_cover_never_ask() -> None:
    withdrawn = dict.fromkeys(KEYS, False)
    assert blocked("fraud", "alert", withdrawn, NONE, None, 0.0, HOUR) is None
    assert blocked("fraud", "sms", withdrawn, NONE, None, 0.0, HOUR) is None


def test_opt_in_keys_wait_for_an_explicit_grant() -> None:
    opt_in = frozenset({"sms.marketing"})
    assert blocked("marketing", "sms", None, opt_in, None, 0.0, HOUR) == (
        "customer opted out of marketing on sms"
    )
    assert blocked("marketing", "sms", {"sms.marketing": True}, opt_in, None, 0.0, HOUR) is None
    assert matrix(None, opt_in)["sms.marketing"] is False


def test_marketing_waits_out_the_window_around_a_fraud_alert_on_both_sides() -> None:
    alert = 10 * HOUR
    assert blocked("marketing", "push", None, NONE, alert, alert + 0.5 * HOUR, HOUR) == NEAR_FRAUD
    # Decided before the alert, delivered after it: held too.
    assert blocked("marketing", "push", None, NONE, alert, alert - 0.5 * HOUR, HOUR) == NEAR_FRAUD
    assert blocked("marketing", "push", None, NONE, alert, alert + 2 * HOUR, HOUR) is None
    # Service messages do not wait for it.
    assert blocked("service", "push", None, NONE, alert, alert, HOUR) is None


def test_consent_is_asked_before_the_fraud_window() -> None:
    reason = blocked("marketing", "email", {"email.marketing": False}, NONE, 0.0, 0.0, HOUR)
    assert reason == "customer opted out of marketing on email"


@pytest.mark.parametrize(
    ("pattern", "keys"),
    [
        ("email.marketing", ("email.marketing",)),
        ("sms.*", ("sms.marketing", "sms.service")),
        ("*.service", ("email.service", "push.service", "sms.service", "in_app.service")),
        ("*", KEYS),
    ],
)
def test_patterns_name_keys(pattern: str, keys: tuple[str, ...]) -> None:
    assert expand(pattern) == keys


@pytest.mark.parametrize(
    ("pattern", "says"),
    [("fax.marketing", "channel"), ("email.promo", "purpose"), ("email", "channel.purpose")],
)
def test_an_unknown_pattern_is_refused_with_what_is_allowed(pattern: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        expand(pattern)


def test_the_more_specific_pattern_wins_whatever_the_order() -> None:
    answers = resolve([("email.marketing", True), ("*.marketing", False)])
    assert answers["email.marketing"] is True
    assert answers["sms.marketing"] is False
    assert "email.service" not in answers


def test_a_merge_keeps_a_withdrawal_from_either_history() -> None:
    merged = stricter({"email.marketing": True, "sms.marketing": True}, {"email.marketing": False})
    assert merged == {"email.marketing": False, "sms.marketing": True}


def test_guard_facts_round_trip_and_read_the_legacy_opt_out() -> None:
    consent = {"email.marketing": False, "sms.service": True}
    facts = guard_facts(consent)
    assert facts["optout"] == "0"  # the keys say it all now
    assert from_guard_facts(facts) == consent
    legacy = from_guard_facts({"optout": "1"})
    assert legacy == dict.fromkeys(expand("*.marketing"), False)
