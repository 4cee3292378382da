"""The demo's live traffic teaches: fraud comes to light and offers are taken as the
hidden truth says, on a demo clock."""

from __future__ import annotations

import asyncio

from actors.model.events import (
    CardPayment,
    Chargeback,
    Event,
    FraudReport,
    Identify,
    Login,
    OfferFeedback,
    Purchase,
)
from actors.model.labels import FRAUD
from actors.model.state import CustomerState
from actors.rules.ruleset import load_rules
from actors.turn.actor import CustomerActor
from tests.support import FakeScorer
from training.live_traffic import LAPSED_DAYS, LiveTraffic

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


def test_lapsed_customers_return_after_months_and_those_who_would_come_back_buy_again() -> None:
    scale = 1 / 6000
    traffic = LiveTraffic(customers=300, lapsed_share=0.5, outcome_delay_scale=scale)
    returned_at: dict[str, float] = {}
    history: dict[str, list[Event]] = {}
    later: list[Event] = []
    now = START
    for _ in range(2000):
        now += 1.0
        for e in traffic.next_session(now):
            history.setdefault(e.actor_id, []).append(e)
        later += traffic.due(now)
    later += traffic.due(float("inf"))
    lapsed = traffic.winback_truth
    assert 100 < len(lapsed) < 200
    for customer in lapsed:
        first, *rest = history[customer]
        assert isinstance(first, Identify)
        # Live sessions are compressed to end at their send time; the past is months back.
        live = [e for e in rest if e.ts >= START - 86_400]
        past = [e for e in rest if e.ts < START - 86_400]
        away_days = (live[0].ts - max(e.ts for e in past)) / 86_400
        assert LAPSED_DAYS[0] - 1 <= away_days <= LAPSED_DAYS[1]
        returned_at[customer] = live[0].ts
    # Purchases are the only outcomes besides reports and offer feedback: the returns.
    orders = [e for e in later if isinstance(e, Purchase)]
    assert {o.actor_id for o in orders} == {c for c, back in lapsed.items() if back}
    assert 0.2 <= len(orders) / len(lapsed) <= 0.6
    for order in orders:
        delay = order.ts - returned_at[order.actor_id]
        assert 0 < delay <= 90 * 86_400 * scale + 60


def test_a_lapsed_customers_first_live_session_earns_a_win_back_offer() -> None:
    traffic = LiveTraffic(customers=50, lapsed_share=1.0)
    actor = CustomerActor(load_rules(), FakeScorer(), clock=lambda: START)
    session = traffic.next_session(START)
    state = CustomerState()
    fired = []
    for e in session:
        outcome = asyncio.run(actor.on_event(e.actor_id, state, e))
        fired += [(a.type, a.campaign, e.ts >= START - 3600) for a in outcome.actions]
    assert ("welcome_back", "winback", True) in fired


def test_without_lapses_no_customer_arrives_with_a_past() -> None:
    traffic = LiveTraffic(customers=100)
    sent = run(traffic, 300)
    assert not traffic.winback_truth
    assert all(e.ts >= START - 3600 for e in sent)
