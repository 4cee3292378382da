"""`engage rules backtest`: the customer actor's own turn replayed on collected events, with
reminders on the replay's clock, the dispatcher's guardrails, and what followed each
action; a candidate set against the rules in force."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import yaml

from actors.model.catalog import OFFERS
from actors.model.events import Event
from actors.rules.ruleset import RuleSet, load_rules, parse_rules
from actors.turn.scoring import Score
from engage.backtest import Decided, Outcomes, compare, figures, replay
from tests.support import T0, event

# Noon UTC on the tests' day: outside the shipped rules' quiet hours (21:00-08:00).
NOON = T0 - T0 % 86_400 + 12 * 3600
SHIPPED = load_rules(None)


class Scores:
    """Every payment looks like fraud; every offer is likely enough to be offered."""

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        if model == "recommender":
            return [Score(model, "1", tuple(0.3 for _ in OFFERS)) for _ in rows]
        return [Score(model, "1", (0.9,)) for _ in rows]


def run(events: list[Event], rules: RuleSet = SHIPPED, until: float | None = None) -> list[Decided]:
    return asyncio.run(replay(sorted(events, key=lambda e: e.ts), rules, Scores(), until))


def fired(decided: list[Decided], rule_id: str) -> list[str]:
    return [d.action.customer_id for d in decided if d.action.rule_id == rule_id]


def browsing(customer: str, at: float) -> list[Event]:
    """Three product views of one category: the shipped browse_offer rule's trigger."""
    return [
        event("product_view", customer, at + i * 30, product_id=f"p{i}", category="electronics")
        for i in range(3)
    ]


def test_a_rule_added_shows_as_its_fires_and_the_others_as_unchanged() -> None:
    shipped = Path(__file__).parents[2] / "actors" / "rules" / "rulesets" / "default.yaml"
    text = yaml.safe_load(shipped.read_text())
    text["rules"].append(
        {
            "id": "page_probe",
            "kind": "service",
            "triggers": ["page_view"],
            "action": {"type": "content_recommendation", "channel": "in_app"},
        }
    )
    candidate = parse_rules(yaml.safe_dump(text))
    events = [event("page_view", f"c{n}", NOON + n) for n in range(5)]
    events += [e for n in range(5) for e in browsing(f"b{n}", NOON + 60 * n)]
    outcomes = Outcomes(events, SHIPPED.policy.attribution_window)
    rows = compare(figures(run(events, candidate), outcomes), figures(run(events), outcomes))
    assert rows["page_probe"] | {"verdicts": None} == {
        "fired": 5,
        "customers": 5,
        "verdicts": None,
        "confirmed_or_converted": 0,
        "fired_vs_live": 5,
        "customers_vs_live": 5,
        "live_fired": 0,
    }
    assert rows["browse_offer"]["fired"] == 5
    assert rows["browse_offer"]["fired_vs_live"] == 0


def test_reminders_fire_on_the_replays_clock_and_a_purchase_cancels_them() -> None:
    events = [
        event("cart_add", "left", NOON),
        event("page_view", "left", NOON + 2 * 3600),  # the clock moves past the 30 minutes
        event("cart_add", "bought", NOON),
        event("purchase", "bought", NOON + 600),
        event("cart_add", "quiet", NOON),  # nothing after it: fires by the data's end
    ]
    decided = run(events, until=NOON + 3600)
    assert sorted(fired(decided, "cart_abandonment")) == ["left", "quiet"]
    [left] = [d.action for d in decided if d.action.customer_id == "left"]
    assert left.event_time.timestamp() == NOON + 1800


def test_each_action_is_judged_by_the_guardrails_at_the_replays_time() -> None:
    at_noon = [e for n in range(10) for e in browsing(f"day{n}", NOON)]
    at_night = [e for n in range(10) for e in browsing(f"night{n}", NOON + 10.5 * 3600)]
    decided = run(at_noon + at_night)
    verdicts = {d.action.customer_id: d.decision.verdict for d in decided}
    day = {v for c, v in verdicts.items() if c.startswith("day")}
    night = {v for c, v in verdicts.items() if c.startswith("night")}
    assert "deliver" in day
    assert day <= {"deliver", "holdout"}
    assert "defer" in night  # quiet hours
    assert night <= {"defer", "holdout"}


def test_what_followed_an_action_is_counted_once_per_customer() -> None:
    events = [
        event("card_payment", "robbed", NOON, payment_id="p-robbed"),
        event("fraud_report", "robbed", NOON + 3600, payment_id="p-robbed"),
        event("card_payment", "unlucky", NOON, payment_id="p-fine"),
        *browsing("buyer", NOON),
        event("purchase", "buyer", NOON + 86_400),
        *browsing("window-shopper", NOON),
        event("purchase", "window-shopper", NOON + 30 * 86_400),  # past the window
    ]
    rows = figures(run(events), Outcomes(events, SHIPPED.policy.attribution_window))
    assert rows["fraud_alert"].fired == 2
    assert rows["fraud_alert"].followed == {"robbed"}
    assert rows["browse_offer"].customers == {"buyer", "window-shopper"}
    assert rows["browse_offer"].followed == {"buyer"}


def test_a_journeys_steps_are_replayed_on_the_replays_clock_each_as_its_own_line() -> None:
    rules = parse_rules(
        """
version: 1
journeys:
  - id: cart_recovery
    entry: {events: [cart_add]}
    exit_on: [purchase]
    steps:
      - {id: settle, wait: 30m}
      - id: email
        send: {type: cart_reminder, channel: email}
      - {id: a_day, wait: 1d}
      - id: push
        send: {type: reengagement, channel: push}
"""
    )
    events = [
        event("identify", "left", NOON - 60, email="left@example.com"),
        event("cart_add", "left", NOON),
        event("identify", "bought", NOON - 60, email="bought@example.com"),
        event("cart_add", "bought", NOON),
        event("purchase", "bought", NOON + 3 * 3600),  # after the e-mail, before the push
    ]
    decided = run(events, rules, until=NOON + 2 * 86_400)
    assert sorted(fired(decided, "cart_recovery.email")) == ["bought", "left"]
    assert fired(decided, "cart_recovery.push") == ["left"]
