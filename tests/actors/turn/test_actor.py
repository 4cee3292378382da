"""A customer actor's turn: rules, scores, actions, reminders, in that order."""

from __future__ import annotations

import asyncio

import pytest

from actors.errors import ScorerUnavailableError
from actors.model.actions import CartReminderAction, FraudAlertAction, OfferAction
from actors.model.state import CustomerState
from actors.rules.ruleset import load_rules, parse_rules
from actors.turn.actor import CustomerActor
from tests.support import T0, FakeScorer, event

NOW = 2_000_000_000.0


def actor(scorer: FakeScorer | None = None, rules_text: str | None = None) -> CustomerActor:
    rules = parse_rules(rules_text) if rules_text else load_rules()
    return CustomerActor(rules, scorer or FakeScorer(), clock=lambda: NOW)


def turn(a: CustomerActor, state: CustomerState, e: object, customer: str = "c1"):  # type: ignore[no-untyped-def]
    return asyncio.run(a.on_event(customer, state, e))  # type: ignore[arg-type]


def test_browsing_one_category_earns_an_offer_on_the_third_view() -> None:
    a, state = actor(), CustomerState()
    outcomes = [turn(a, state, event("product_view", at=T0 + i)) for i in range(4)]
    assert [len(o.actions) for o in outcomes] == [0, 0, 1, 0]  # once per session
    (offer,) = outcomes[2].actions
    assert isinstance(offer, OfferAction)
    assert offer.offer_id == "electronics_10"
    assert offer.rule_id == "browse_offer"
    assert offer.model_versions == {"recommender": "1"}
    assert offer.scores["offer_p"] > 0.1
    assert offer.message == "10% off electronics, picked for you"


def test_the_idempotency_key_is_the_same_on_every_replay() -> None:
    events = [event("product_view", at=T0 + i) for i in range(3)]
    first, second = CustomerState(), CustomerState()
    a = actor()
    keys_first = [k.idempotency_key for e in events for k in turn(a, first, e).actions]
    keys_second = [k.idempotency_key for e in events for k in turn(a, second, e).actions]
    assert keys_first == keys_second
    assert len(keys_first) == 1


def test_a_suspicious_payment_raises_a_fraud_alert_with_reasons() -> None:
    a, state = actor(), CustomerState()
    for i in range(4):
        turn(a, state, event("card_payment", amount=30.0, country="US", at=T0 + i * 3600))
    outcome = turn(
        a,
        state,
        event(
            "card_payment",
            amount=900.0,
            country="BR",
            merchant_category="gift_cards",
            at=T0 + 5 * 3600,
        ),
    )
    alerts = [x for x in outcome.actions if isinstance(x, FraudAlertAction)]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.severity == "high"
    assert "new country" in alert.reasons
    assert "high-risk merchant category" in alert.reasons
    assert alert.kind == "fraud"
    assert state.fraud_alert_at == T0 + 5 * 3600


def test_a_fraud_alert_suppresses_marketing_for_a_while() -> None:
    a, state = actor(), CustomerState()
    turn(a, state, event("card_payment", amount=30.0, country="US", at=T0))
    turn(a, state, event("card_payment", amount=900.0, country="BR", at=T0 + 60))
    outcomes = [turn(a, state, event("product_view", at=T0 + 120 + i)) for i in range(3)]
    assert all(not o.actions for o in outcomes)


def test_no_consent_means_no_marketing_but_fraud_alerts_still_go_out() -> None:
    a, state = actor(), CustomerState()
    turn(a, state, event("identify", consent_marketing=False))
    outcomes = [turn(a, state, event("product_view", at=T0 + i)) for i in range(3)]
    assert all(not o.actions for o in outcomes)
    turn(a, state, event("card_payment", amount=30.0, country="US", at=T0 + 10))
    alert = turn(a, state, event("card_payment", amount=900.0, country="BR", at=T0 + 20))
    assert [x.type for x in alert.actions] == ["fraud_alert"]


def test_a_rule_asks_the_consent_of_its_own_channel() -> None:
    # browse_offer sends on push: an e-mail opt-out leaves it be, a push opt-out stops it.
    a = actor()
    email_out, push_out = CustomerState(), CustomerState()
    turn(a, email_out, event("identify", consent={"email.marketing": False}))
    withdrawn = turn(a, push_out, event("identify", consent={"push.*": False}))
    offered = [turn(a, email_out, event("product_view", at=T0 + i)) for i in range(1, 4)]
    held = [turn(a, push_out, event("product_view", at=T0 + i)) for i in range(1, 4)]
    assert [x.type for o in offered for x in o.actions] == ["offer"]
    assert [x for o in held for x in o.actions] == []
    assert held[-1].trace["rules"]["browse_offer"] == "customer opted out of marketing on push"
    # The dispatcher's guardrails get the answers in the same commit.
    assert withdrawn.guard == {
        "consent|push.marketing": "0",
        "consent|push.service": "0",
        "optout": "0",
    }


def test_a_duplicate_event_is_a_no_op() -> None:
    a, state = actor(), CustomerState()
    e = event("product_view")
    assert not turn(a, state, e).duplicate
    assert turn(a, state, e).duplicate


def test_models_are_scored_only_when_a_rule_could_still_fire() -> None:
    scorer = FakeScorer()
    a, state = actor(scorer), CustomerState()
    turn(a, state, event("product_view", at=T0))
    turn(a, state, event("product_view", at=T0 + 1))
    assert scorer.requests == []  # two views: browse_offer is false before scoring
    turn(a, state, event("product_view", at=T0 + 2))
    assert [m for m, _ in scorer.requests] == ["recommender"]


def test_a_cart_sets_an_abandonment_reminder_and_a_purchase_cancels_it() -> None:
    a, state = actor(), CustomerState()
    added = turn(a, state, event("cart_add"))
    assert ("cart_abandonment", NOW + 1800) in added.reminders_set
    bought = turn(a, state, event("purchase", total=100.0, at=T0 + 60))
    assert "cart_abandonment" in bought.reminders_cancelled


def test_a_due_cart_reminder_sends_a_cart_reminder_once() -> None:
    a, state = actor(), CustomerState()
    turn(a, state, event("cart_add", price=25.0, quantity=2))
    outcome = asyncio.run(a.on_reminder("c1", state, "cart_abandonment", NOW + 1800))
    (reminder,) = outcome.actions
    assert isinstance(reminder, CartReminderAction)
    assert (reminder.cart_items, reminder.cart_value) == (2, 50.0)
    assert reminder.message == "You left 2 item(s) worth 50.00 in your cart"
    again = asyncio.run(a.on_reminder("c1", state, "cart_abandonment", NOW + 1800))
    assert again.duplicate


def _quiet_for_a_week(scorer: FakeScorer, bought: bool = True) -> list[object]:
    a, state = actor(scorer), CustomerState()
    if bought:
        turn(a, state, event("purchase", total=80.0, at=T0))
    turn(a, state, event("product_view", at=T0 + 60))
    outcome = asyncio.run(a.on_reminder("c1", state, "reengagement", T0 + 7 * 86_400 + 60))
    return list(outcome.actions)


def test_a_quiet_past_buyer_the_winback_model_finds_persuadable_gets_a_winback_offer() -> None:
    scorer = FakeScorer(winback=0.3)
    (offer,) = _quiet_for_a_week(scorer)
    assert isinstance(offer, OfferAction)
    assert offer.rule_id == "winback_offer"
    assert offer.campaign == "winback"
    assert offer.offer_id == "electronics_10"  # the recommender's best for this customer
    assert offer.scores["winback"] == 0.3
    assert offer.model_versions == {"winback": "1", "recommender": "1"}
    assert offer.message == "We kept something for you: 10% off electronics"
    assert [model for model, _ in scorer.requests] == ["recommender", "winback"]


@pytest.mark.parametrize(
    ("why", "scorer", "bought"),
    [
        ("sure to come back anyway", FakeScorer(winback=0.9), True),
        ("unlikely to be moved", FakeScorer(winback=0.05), True),
        ("never bought", FakeScorer(winback=0.3), False),
        ("no win-back model served", FakeScorer(winback=None), True),
    ],
)
def test_everyone_else_quiet_for_a_week_gets_the_plain_reminder(
    why: str, scorer: FakeScorer, bought: bool
) -> None:
    actions = _quiet_for_a_week(scorer, bought)
    assert [a.type for a in actions] == ["reengagement"], why  # type: ignore[attr-defined]


def test_welcome_back_after_a_month_away() -> None:
    a, state = actor(), CustomerState()
    turn(a, state, event("login", at=T0))
    back = turn(a, state, event("login", at=T0 + 40 * 86_400))
    assert [x.type for x in back.actions] == ["welcome_back"]


def test_a_template_with_a_missing_field_rejects_the_action_not_the_turn() -> None:
    rules = """
rules:
  - id: bad
    kind: service
    triggers: [page_view]
    action: {type: content_recommendation, channel: in_app, template: "{event.category}"}
"""
    a, state = actor(rules_text=rules), CustomerState()
    outcome = turn(a, state, event("page_view"))
    assert outcome.actions == []
    (rejected,) = outcome.rejected
    assert rejected.rule_id == "bad"
    assert "event.category" in rejected.reason
    assert state.events_total == 1


def test_a_failing_scorer_fails_the_turn() -> None:
    a = actor(FakeScorer(fail=ScorerUnavailableError("recommender", "down")))
    state = CustomerState()
    for i in range(2):
        turn(a, state, event("product_view", at=T0 + i))
    with pytest.raises(ScorerUnavailableError):
        turn(a, state, event("product_view", at=T0 + 2))


def test_rules_read_the_traits_identify_gave() -> None:
    rules = """
rules:
  - id: gold_welcome
    kind: service
    triggers: [page_view]
    when: customer.traits.plan == "gold" and customer.traits.seats >= 10
    action:
      type: content_recommendation
      channel: in_app
      template: "welcome, {customer.traits.company}"
"""
    a, state = actor(rules_text=rules), CustomerState()
    assert turn(a, state, event("page_view", at=T0)).actions == []  # no traits yet
    turn(a, state, event("identify", at=T0 + 1, traits={"plan": "gold", "seats": 12}))
    turn(a, state, event("identify", at=T0 + 2, traits={"company": "Acme"}))
    (action,) = turn(a, state, event("page_view", at=T0 + 3)).actions
    assert action.message == "welcome, Acme"


def test_a_custom_event_triggers_rules_by_its_name_and_properties() -> None:
    rules = """
rules:
  - id: checkout_help
    kind: service
    triggers: [custom]
    when: >-
      event.name == "Checkout Step Viewed" and event.properties.step >= 3
      and session.custom["Checkout Step Viewed"] >= 2
    action:
      type: content_recommendation
      channel: in_app
      template: "step {event.properties.step}"
"""
    a, state = actor(rules_text=rules), CustomerState()

    def step(n: int, name: str = "Checkout Step Viewed") -> list[object]:
        e = event("custom", at=T0 + n, name=name, properties={"step": n})
        return list(turn(a, state, e).actions)

    assert step(3, "Support Chat Opened") == []  # another name
    assert step(3) == []  # the first view of this step this session
    (action,) = step(4)
    assert action.message == "step 4"  # type: ignore[attr-defined]
    assert state.session_custom == {"Support Chat Opened": 1, "Checkout Step Viewed": 2}


def test_a_turn_says_why_each_rule_of_its_trigger_fired_or_not() -> None:
    a, state = actor(), CustomerState()
    traces = [turn(a, state, event("product_view", at=T0 + i)).trace for i in range(4)]
    assert traces[0]["rules"]["browse_offer"] == "condition false"
    fired = traces[2]["rules"]["browse_offer"]
    assert fired.startswith("fired: offer ")
    assert traces[2]["scores"]["offer_p"] > 0.1
    assert traces[2]["models"] == {"recommender": "1"}
    assert traces[3]["rules"]["browse_offer"] == "fired already this session"
    shy = CustomerState()
    turn(a, shy, event("identify", at=T0, consent_marketing=False))
    (trace,) = [turn(a, shy, event("product_view", at=T0 + 1)).trace]
    assert trace["rules"]["browse_offer"] == "customer opted out of marketing on push"
