"""marketing_blocked: the one answer to "may we market to this customer now"."""

from __future__ import annotations

from actors.model.consent import NEAR_FRAUD, NO_CONSENT, marketing_blocked

HOUR = 3600.0


def test_a_customer_who_opted_out_gets_no_marketing() -> None:
    assert marketing_blocked(False, None, 1000.0, HOUR) == NO_CONSENT


def test_marketing_waits_out_the_window_around_a_fraud_alert_on_both_sides() -> None:
    alert = 10 * HOUR
    assert marketing_blocked(True, alert, alert + 0.5 * HOUR, HOUR) == NEAR_FRAUD
    # Decided before the alert, delivered after it: held too.
    assert marketing_blocked(True, alert, alert - 0.5 * HOUR, HOUR) == NEAR_FRAUD
    assert marketing_blocked(True, alert, alert + 2 * HOUR, HOUR) is None


def test_consent_is_asked_first() -> None:
    assert marketing_blocked(False, 0.0, 0.0, HOUR) == NO_CONSENT


def test_a_customer_with_consent_and_no_alert_may_be_marketed_to() -> None:
    assert marketing_blocked(True, None, 0.0, HOUR) is None
