"""The decision log in the turn: each offer a rule makes goes out with its decision's
record; a next-best-offer answer in the customer's stream is remembered, counted and
logged; feedback is credited to the decision that showed the offer, never another."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from actors.catalog.catalog import Catalog, built_in
from actors.catalog.follower import CatalogFollower
from actors.catalog.offer import CatalogOffer
from actors.model.action_record import CLICKED, SHOWN
from actors.model.actions import DecisionAction, OfferAction
from actors.model.decision import NEXT_BEST_OFFER, DecisionRecord
from actors.model.events import Decision, Event
from actors.model.state import CustomerState
from actors.rules.ruleset import parse_rules
from actors.turn.actor import CustomerActor
from actors.turn.offers import offered_counts, recent_offers
from actors.turn.outcome import TurnOutcome
from tests.support import T0, FakeScorer, event

NOW = 2_000_000_000.0
RULES = """
policy: {attribution_window: 1d, no_repeat_within: 1d, %s}
rules:
  - id: browse_offer
    kind: marketing
    triggers: [product_view]
    when: session.category_views >= 3
    once_per: session
    action: {type: offer, channel: push, campaign: browse}
"""


def actor(policy: str = "holdout: {}") -> CustomerActor:
    return CustomerActor(parse_rules(RULES % policy), FakeScorer(), clock=lambda: NOW)


def turn(a: CustomerActor, state: CustomerState, e: Event, customer: str = "c1") -> TurnOutcome:
    return asyncio.run(a.on_event(customer, state, e))


def views(customer: str = "c1") -> list[Event]:
    # Ids of their own: a decision's draw is fixed by its trigger, whatever ran before.
    return [
        event("product_view", customer, at=T0 + i, event_id=f"{customer}-v{i}") for i in range(3)
    ]


def browse(
    a: CustomerActor, state: CustomerState, customer: str = "c1", seen: list[Event] | None = None
) -> TurnOutcome:
    outcomes = [turn(a, state, e, customer) for e in seen or views(customer)]
    return outcomes[-1]


def answer(
    decision_id: str = "dec_1",
    chosen: tuple[str, ...] = ("electronics_10", "books_15"),
    control: str | None = None,
    at: float = T0 + 100,
) -> Decision:
    record = DecisionRecord(
        decision_id=decision_id,
        customer_id="c1",
        at=at,
        source="next_best_offer",
        rule_id=NEXT_BEST_OFFER,
        chosen=list(chosen),
        propensity=1.0,
        control=control,
        model_version="7",
    )
    return Decision(
        event_id=decision_id,
        customer_id="c1",
        timestamp=datetime.fromtimestamp(at, UTC),
        decision=record,
    )


def test_a_rule_offer_goes_out_with_the_record_of_its_decision() -> None:
    a, state = actor(), CustomerState()
    outcome = browse(a, state)
    (offer,) = outcome.actions
    (logged,) = outcome.decisions
    assert isinstance(offer, OfferAction)
    assert isinstance(logged, DecisionAction)
    record = logged.decision
    # The decision is named by the action's id: feedback naming the action names it.
    assert record.decision_id == offer.action_id
    assert (record.source, record.rule_id, record.campaign) == ("rule", "browse_offer", "browse")
    assert record.chosen == [offer.offer_id]
    assert record.propensity == 1.0
    assert not record.explored
    assert record.candidates[0].offer_id == offer.offer_id
    assert record.candidates[0].propensity == 1.0
    assert len(record.candidates) > 1  # every eligible offer, for off-policy estimates
    assert record.model_version == "1"
    assert record.features
    assert logged.sink == "decisions"
    assert logged.kind == "service"


def test_a_replayed_turn_logs_the_same_decision_under_the_same_key() -> None:
    seen = views()
    first = browse(actor("exploration: {share: 0.5}"), CustomerState(), seen=seen)
    again = browse(actor("exploration: {share: 0.5}"), CustomerState(), seen=seen)
    assert first.decisions[0].idempotency_key == again.decisions[0].idempotency_key
    assert first.decisions[0].decision == again.decisions[0].decision


def test_a_held_out_customer_s_decision_is_logged_as_the_control_arm() -> None:
    a = actor("holdout: {browse: 0.99}")
    outcome = browse(a, CustomerState())
    (logged,) = outcome.decisions
    assert outcome.actions[0].held_out
    assert logged.decision.control == "holdout"


def test_with_exploration_some_customers_get_a_drawn_offer_with_its_propensity() -> None:
    a = actor("exploration: {share: 0.5}")
    records = [browse(a, CustomerState(), f"c{i}").decisions[0].decision for i in range(200)]
    explored = [r for r in records if r.explored]
    # Half draw, and a draw may land on the best: about 93 of 200, within five deviations.
    assert 58 < len(explored) < 128
    for r in explored:
        (first,) = r.chosen
        assert first != r.candidates[0].offer_id
        assert r.propensity == next(c.propensity for c in r.candidates if c.offer_id == first)
        assert r.propensity < 0.5
    greedy = next(r for r in records if not r.explored)
    assert greedy.propensity is not None
    assert greedy.propensity > 0.5


def test_exploration_can_be_off_on_a_channel() -> None:
    a = actor("exploration: {share: 0.5, channels: {push: 0.0}}")
    records = [browse(a, CustomerState(), f"c{i}").decisions[0].decision for i in range(50)]
    assert not any(r.explored for r in records)
    assert {r.exploration for r in records} == {0.0}


def test_a_next_best_offer_answer_is_remembered_counted_and_logged() -> None:
    a, state = actor(), CustomerState()
    outcome = turn(a, state, answer())
    (logged,) = outcome.decisions
    assert logged.decision.decision_id == "dec_1"
    assert outcome.actions == []
    assert Counter(c.split("|")[0] for c in outcome.counters) == {"sent": 2}
    assert all("|treated|next_best_offer|" in c for c in outcome.counters)
    # An answer is not the customer's activity.
    assert state.events_total == 0
    assert state.last_event_at is None
    # An answer the app did not show made nothing: caps and no-repeat do not see it.
    assert offered_counts(state) == {}
    assert recent_offers(state, T0 + 200, 86_400) == frozenset()


def feedback(outcome: str, decision_id: str, at: float) -> Event:
    return event(
        "offer_feedback", outcome=outcome, offer_id="electronics_10", decision_id=decision_id, at=at
    )


def test_feedback_is_credited_to_the_decision_that_showed_the_offer() -> None:
    a, state = actor(), CustomerState()
    turn(a, state, answer("dec_1", ("electronics_10",)))
    turn(a, state, answer("dec_2", ("books_15",), at=T0 + 200))
    shown = feedback("shown", "dec_1", T0 + 300)
    assert turn(a, state, shown).counters == ["shown|treated|next_best_offer||electronics_10|7"]
    # Naming a decision that did not show the offer credits nothing.
    wrong = feedback("clicked", "dec_2", T0 + 400)
    assert turn(a, state, wrong).counters == []
    clicked = feedback("clicked", "dec_1", T0 + 500)
    assert turn(a, state, clicked).counters == ["clicked|treated|next_best_offer||electronics_10|7"]
    assert state.recent_actions is not None
    first = next(r for r in state.recent_actions if r.action_id == "dec_1")
    assert first.outcomes == SHOWN | CLICKED
    # Shown, it now counts as made: no repeat within the window, and once against its cap,
    # however often it is reported shown.
    assert recent_offers(state, T0 + 600, 86_400) == {"electronics_10"}
    assert offered_counts(state) == {"electronics_10": 1}
    turn(a, state, feedback("shown", "dec_1", T0 + 700))
    assert offered_counts(state) == {"electronics_10": 1}


def test_a_control_group_answer_counts_in_its_own_control_arm() -> None:
    a = actor()
    programme = turn(a, CustomerState(), answer(control="global_control"))
    assert programme.counters
    assert all("|global_control|next_best_offer|" in c for c in programme.counters)
    assert programme.decisions[0].decision.control == "global_control"
    campaign = turn(a, CustomerState(), answer(control="holdout"))
    assert all("|holdout|next_best_offer|" in c for c in campaign.counters)


def test_a_replayed_answer_is_neither_counted_nor_logged_twice() -> None:
    a, state = actor(), CustomerState()
    once = answer()
    turn(a, state, once)
    again = turn(a, state, once)
    assert again.duplicate
    assert again.decisions == []
    assert again.counters == []


def test_a_rule_s_action_held_for_the_global_control_counts_in_that_arm() -> None:
    outcome = browse(actor("global_control: 0.99"), CustomerState())
    (offer,) = outcome.actions
    assert isinstance(offer, OfferAction)
    assert offer.held_out
    assert outcome.decisions[0].decision.control == "global_control"
    assert outcome.counters == [f"sent|global_control|browse_offer|browse|{offer.offer_id}|1"]


def test_a_new_offer_gets_exploration_traffic_within_the_first_hour() -> None:
    """An hour of simulated browsing (600 customers, each earning the browse offer once)
    after a new offer joins the catalogue: the model has never seen it and rates it below
    the rest, so greedy decisions never make it; with a fifth of decisions exploring,
    some do within the hour, each logged with its propensity."""
    new = CatalogOffer(
        offer_id="vinyl_club", title="Vinyl club", categories=("music",), domain="retail", value=5
    )
    catalog = CatalogFollower(None)
    catalog.catalog = Catalog.of(1, [*built_in().offers, new])

    def first_offers(policy: str) -> list[DecisionRecord]:
        a = CustomerActor(parse_rules(RULES % policy), FakeScorer(), lambda: NOW, True, catalog)
        records = []
        for n in range(600):
            customer, start = f"c{n}", T0 + n * 6.0  # one hour of event time
            seen = [event("product_view", customer, at=start + i) for i in range(3)]
            records += browse(a, CustomerState(), customer, seen).decisions
        return [d.decision for d in records]

    greedy = first_offers("exploration: {share: 0.0}")
    assert not any(r.chosen == ["vinyl_club"] for r in greedy)
    explored = [r for r in first_offers("exploration: {share: 0.2}") if r.chosen == ["vinyl_club"]]
    assert explored
    assert all(r.explored and r.catalog_version == "1" for r in explored)
    assert all(r.propensity == pytest.approx(0.2 / len(r.candidates)) for r in explored)
