"""Outcomes reported about a customer (a payment confirmed as fraud, a chargeback): kept in
the state for rules and the labels of retraining, never taken for the customer's activity."""

from __future__ import annotations

from actors.model.merge import merge_states
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json, state_to_json
from actors.rules.context import customer_view
from actors.rules.ruleset import parse_rules
from tests.support import T0, event

DAY = 86_400.0


def test_a_fraud_report_confirms_fraud_without_counting_as_activity() -> None:
    state = CustomerState()
    state.apply(event("card_payment", at=T0, payment_id="pay7"))
    sessions, last, total = state.session_index, state.last_event_at, state.events_total
    state.apply(event("fraud_report", at=T0 + 20 * DAY, payment_id="pay7"))
    assert state.fraud_reports == 1
    assert state.fraud_confirmed_at == T0 + 20 * DAY
    assert (state.session_index, state.last_event_at, state.events_total) == (
        sessions,
        last,
        total,
    )


def test_only_a_chargeback_for_fraud_confirms_fraud() -> None:
    state = CustomerState()
    state.apply(event("chargeback", at=T0, reason="not_received"))
    assert (state.chargebacks, state.fraud_confirmed_at) == (1, None)
    state.apply(event("chargeback", at=T0 + DAY, reason="fraud"))
    assert (state.chargebacks, state.fraud_confirmed_at) == (2, T0 + DAY)


def test_a_redelivered_report_is_applied_once_and_survives_a_save() -> None:
    state = CustomerState()
    report = event("fraud_report", at=T0)
    state.apply(report)
    state.apply(report)
    assert state.fraud_reports == 1
    restored = state_from_json(state_to_json(state))
    assert restored == state
    assert restored.fraud_confirmed_at == T0


def test_merging_two_profiles_keeps_both_outcomes() -> None:
    a, b = CustomerState(), CustomerState()
    a.apply(event("chargeback", at=T0, reason="fraud"))
    b.apply(event("fraud_report", at=T0 + DAY))
    merged = merge_states(a, b)
    assert (merged.chargebacks, merged.fraud_reports) == (1, 1)
    assert merged.fraud_confirmed_at == T0 + DAY


def test_rules_read_the_outcomes_of_a_customer() -> None:
    state = CustomerState()
    state.apply(event("fraud_report", at=T0))
    view = customer_view("c1", state, T0 + 3 * DAY, 0.0, DAY)
    assert view["fraud_reports"] == 1
    assert view["days_since_confirmed_fraud"] == 3.0
    rules = parse_rules(
        """
rules:
  - id: hold_offers_after_confirmed_fraud
    kind: service
    triggers: [login]
    when: customer.days_since_confirmed_fraud <= 30 or customer.chargebacks >= 2
    action:
      type: content_recommendation
      channel: in_app
      template: "Your account is under review"
"""
    )
    assert [r.spec.id for r in rules.rules] == ["hold_offers_after_confirmed_fraud"]
