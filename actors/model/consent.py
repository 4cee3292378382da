"""May engage market to this customer now? One answer, given by the turn (a marketing
rule's blocker), by the guardrails at delivery, and by next-best-offer for an outbound
channel, each from what it has: the customer's state, or the guard facts the commit
wrote beside it.

Service messages and fraud alerts never ask: they go out whatever the answer."""

from __future__ import annotations

NO_CONSENT = "customer opted out of marketing"
NEAR_FRAUD = "fraud alert within the suppression window"


def near_fraud_alert(fraud_alert_at: float | None, at: float, window_s: float) -> bool:
    """Whether `at` is within `window_s` of the customer's last fraud alert, before or
    after it: an action decided just before an alert whose delivery comes after it is
    held as well."""
    return fraud_alert_at is not None and abs(at - fraud_alert_at) < window_s


def marketing_blocked(
    consent: bool, fraud_alert_at: float | None, at: float, window_s: float
) -> str | None:
    """Why marketing may not go to the customer at `at`, or None when it may."""
    if not consent:
        return NO_CONSENT
    if near_fraud_alert(fraud_alert_at, at, window_s):
        return NEAR_FRAUD
    return None
