"""The demo's live traffic teaches: fraud comes to light and offers are taken as the
hidden truth says, on a demo clock."""

from __future__ import annotations

from actors.model.events import (
    CardPayment,
    Chargeback,
    Event,
    FraudReport,
    Login,
    OfferFeedback,
)
from actors.model.labels import FRAUD
from training.live_traffic import LiveTraffic

START = 1_900_000_000.0


def run(traffic: LiveTraffic, sessions: int, every_s: float = 1.0) -> list[Event]:
    """Sessions one `every_s` apart, each followed by what fell due, then all the rest."""
    sent: list[Event] = []
    now = START
    for _ in range(sessions):
        now += every_s
        sent += traffic.next_session(now)
        sent += traffic.due(now)
    sent += traffic.due(float("inf"))
    return sent


def test_reports_and_chargebacks_follow_only_fraudulent_payments_within_the_scaled_window() -> None:
    scale = 1 / 6000
    traffic = LiveTraffic(customers=300, fraud_rate=0.2, outcome_delay_scale=scale)
    sent = run(traffic, 3000)
    paid = {e.payment_id: e for e in sent if isinstance(e, CardPayment)}
    reports = [e for e in sent if isinstance(e, FraudReport | Chargeback)]
    assert reports, "fraud came to light"
    fraudulent = {p for p, truth in traffic.fraud_truth.items() if truth}
    assert {r.payment_id for r in reports} <= fraudulent
    assert len({r.payment_id for r in reports}) >= 0.8 * len(fraudulent)
    for report in reports:
        delay = report.ts - paid[report.payment_id].ts
        assert 0 < delay <= FRAUD.window_s * scale + 1


def test_offers_are_clicked_and_converted_as_the_hidden_preferences_say() -> None:
    traffic = LiveTraffic(customers=300)
    sent = run(traffic, 2000)
    feedback = [e for e in sent if isinstance(e, OfferFeedback)]
    shown = [(e.customer_id, e.offer_id) for e in feedback if e.outcome == "shown"]
    clicked = {(e.customer_id, e.offer_id) for e in feedback if e.outcome == "clicked"}
    converted = {(e.customer_id, e.offer_id) for e in feedback if e.outcome == "converted"}
    taken = {(c, o) for c, o, t in traffic.offer_truth if t}
    assert len(shown) == len(traffic.offer_truth) > 100
    assert clicked == taken
    assert converted
    assert converted <= clicked


def test_nothing_is_sent_before_its_time_and_due_outcomes_come_in_time_order() -> None:
    traffic = LiveTraffic(customers=300, fraud_rate=0.2)
    now = START
    for _ in range(500):
        now += 1.0
        session = traffic.next_session(now)
        assert all(e.ts <= now for e in session)
        due = traffic.due(now)
        assert all(e.ts <= now for e in due)
        assert [e.ts for e in due] == sorted(e.ts for e in due)
    assert traffic.pending > 0  # chargebacks take days, even on the demo clock


def test_a_takeover_drift_sends_failed_logins_then_payments_reported_as_fraud() -> None:
    traffic = LiveTraffic(customers=300, fraud_rate=0.0, takeover_share=0.2)
    sent = run(traffic, 2000)
    assert len(traffic.takeover_truth) > 50
    assert all(traffic.fraud_truth[p] for p in traffic.takeover_truth)
    reported = {e.payment_id for e in sent if isinstance(e, FraudReport | Chargeback)}
    assert len(reported & traffic.takeover_truth) >= 0.8 * len(traffic.takeover_truth)
    # Without fraud of another kind, every fraudulent payment is a takeover's, and each
    # takeover's customer failed to log in before paying.
    assert {p for p, truth in traffic.fraud_truth.items() if truth} == traffic.takeover_truth
    failed = {e.customer_id for e in sent if isinstance(e, Login) and not e.success}
    payers = {e.customer_id for e in sent if isinstance(e, CardPayment)}
    taken_over = {
        e.customer_id for e in sent if getattr(e, "payment_id", None) in traffic.takeover_truth
    }
    assert taken_over <= failed & payers


def test_two_runs_of_one_population_send_the_same_customers_but_never_the_same_event_ids() -> None:
    demo, second = LiveTraffic(customers=300, run_id="a1"), LiveTraffic(customers=300, run_id="b2")
    first_ids = {e.event_id for e in run(demo, 300)}
    second_events = run(second, 300)
    assert not first_ids & {e.event_id for e in second_events}
    assert {t.customer_id for t in demo.population} == {t.customer_id for t in second.population}
    assert [t.usual_amount for t in demo.population] == [t.usual_amount for t in second.population]
