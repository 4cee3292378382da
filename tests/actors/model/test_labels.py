"""Each model's label: the outcome within its window, pending while the window is open."""

from __future__ import annotations

import pytest

from actors.model.labels import FRAUD, LABELS, confirmed_fraud, offer_shown, offer_taken, won_back
from tests.support import T0, event

DAY = 86_400.0


def test_an_outcome_inside_the_window_is_positive_and_none_is_negative_once_it_closes() -> None:
    as_of = T0 + 30 * DAY
    assert FRAUD.label(T0, T0 + 2 * DAY, as_of) == 1
    assert FRAUD.label(T0, None, as_of) == 0


def test_an_outcome_after_the_window_or_before_the_prediction_does_not_count() -> None:
    as_of = T0 + 30 * DAY
    assert FRAUD.label(T0, T0 + FRAUD.window_s + 1, as_of) == 0
    assert FRAUD.label(T0, T0 - 1, as_of) == 0


def test_a_row_whose_window_is_still_open_is_pending_even_if_its_outcome_came() -> None:
    # Taking early positives but not early negatives would overstate the recent rate.
    assert FRAUD.label(T0, None, T0 + DAY) is None
    assert FRAUD.label(T0, T0 + 60, T0 + DAY) is None


def test_a_window_can_be_shortened_but_never_to_nothing() -> None:
    short = FRAUD.with_window(60.0)
    assert short.window_s == 60.0
    assert short.label(T0, T0 + 30, T0 + 60) == 1
    assert FRAUD.with_window(None) is FRAUD
    with pytest.raises(ValueError, match="positive"):
        FRAUD.with_window(0)


def test_fraud_reports_and_fraud_chargebacks_confirm_a_payment_other_disputes_do_not() -> None:
    assert confirmed_fraud(event("fraud_report", payment_id="p9")) == "p9"
    assert confirmed_fraud(event("chargeback", payment_id="p9", reason="fraud")) == "p9"
    assert confirmed_fraud(event("chargeback", payment_id="p9", reason="not_received")) is None
    assert confirmed_fraud(event("card_payment")) is None


def test_offers_are_shown_then_taken_by_a_click_or_a_conversion() -> None:
    shown = event("offer_feedback", outcome="shown", offer_id="o1")
    assert offer_shown(shown) == "o1"
    assert offer_taken(shown) is None
    for outcome in ("clicked", "converted"):
        assert offer_taken(event("offer_feedback", outcome=outcome, offer_id="o1")) == "o1"


def test_a_purchase_wins_a_customer_back_and_every_model_has_a_label() -> None:
    assert won_back(event("purchase"))
    assert not won_back(event("page_view"))
    assert set(LABELS) == {"fraud", "recommender", "winback"}
