"""`engage rules backtest`: what rules would have done on the events engage collected,
before they go live, set against what the rules in force do on the same events.

Each customer's events are replayed in event-time order through the customer actor's own
turn (actors.turn.actor.CustomerActor: the same state, features, conditions, cooldowns
and templates), scored by the current champions, with reminders firing at their due
times on the replay's clock and every action judged by the dispatcher's own guardrails
(consent, the fraud suppression window, quiet hours, frequency caps, holdouts). What the
replay cannot know is left out and said: deliveries that would have failed, and identity
merges (each actor's events are replayed on their own).

Per rule: how often it fired, on how many customers, the guardrails' verdicts, and how many
of those customers were later confirmed fraud (a fraud report or a fraud chargeback of the
alerted payment) or converted (a purchase or an offer conversion within the rules'
attribution window after the action).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from actors.delivery.guardrails import Guardrails
from actors.delivery.policy import Decision
from actors.errors import ModelError
from actors.model.actions import Action, FraudAlertAction
from actors.model.events import Chargeback, Event, FraudReport, OfferFeedback, Purchase
from actors.model.state import CustomerState
from actors.rules.ruleset import RuleSet
from actors.turn.actor import CustomerActor
from actors.turn.outcome import TurnOutcome
from actors.turn.scoring import Score, Scorer


class ReplayGuardStore:
    """The guardrails' per-customer facts and cap counters, in the replay's memory."""

    def __init__(self) -> None:
        self.by_customer: dict[str, dict[str, str]] = defaultdict(dict)

    async def facts(self, customers: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
        return [dict(self.by_customer[c]) for _, c in customers]

    async def count(self, increments: Sequence[tuple[int, str, list[str]]]) -> None:
        for _, customer, fields in increments:
            facts = self.by_customer[customer]
            for name in fields:
                facts[name] = str(int(facts.get(name, "0")) + 1)


class ChampionScorer:
    """The Scorer protocol over models loaded once (`name -> served model`)."""

    def __init__(self, models: dict[str, Any]) -> None:
        self.models = models

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        served = self.models.get(model)
        if served is None:
            raise ModelError(model, "no champion to score with: train and promote one first")
        return [Score(model, served.version, v) for v in served.predict(rows)]


@dataclass(frozen=True, slots=True)
class Decided:
    action: Action
    decision: Decision


async def replay(
    events: Iterable[Event], rules: RuleSet, scorer: Scorer, until: float | None = None
) -> list[Decided]:
    """Every action `rules` would have taken on `events` (sorted by time), with the
    guardrails' verdict on each; reminders due by `until` fire too."""
    now = [0.0]
    actor = CustomerActor(rules, scorer, clock=lambda: now[0], trace=False)
    store = ReplayGuardStore()
    guardrails = Guardrails(store, lambda: rules.policy, 1, lambda: now[0])
    states: dict[str, CustomerState] = {}
    due: list[tuple[float, str, str]] = []
    pending: dict[tuple[str, str], float] = {}
    decided: list[Decided] = []

    async def settle(customer: str, outcome: TurnOutcome) -> None:
        store.by_customer[customer].update(outcome.guard)
        for kind in outcome.reminders_cancelled:
            pending.pop((customer, kind), None)
        for kind, at in outcome.reminders_set:
            pending[(customer, kind)] = at
            heapq.heappush(due, (at, customer, kind))
        if not outcome.actions:
            return
        decisions = await guardrails.decide(outcome.actions)
        sent = [
            a for a, d in zip(outcome.actions, decisions, strict=True) if d.verdict == "deliver"
        ]
        await guardrails.delivered(sent)
        decided.extend(Decided(a, d) for a, d in zip(outcome.actions, decisions, strict=True))

    async def remind(through: float) -> None:
        while due and due[0][0] <= through:
            at, customer, kind = heapq.heappop(due)
            if pending.get((customer, kind)) != at:
                continue  # cancelled, or set again later
            del pending[(customer, kind)]
            now[0] = at
            await settle(customer, await actor.on_reminder(customer, states[customer], kind, at))

    last = 0.0
    for event in events:
        await remind(event.ts)
        now[0] = last = event.ts
        customer = event.actor_id
        state = states.setdefault(customer, CustomerState())
        await settle(customer, await actor.on_event(customer, state, event))
    await remind(until if until is not None else last)
    return decided


@dataclass
class RuleFigures:
    fired: int = 0
    customers: set[str] = field(default_factory=set)
    verdicts: Counter[str] = field(default_factory=Counter)
    # Customers confirmed fraud (fraud alerts) or converted (anything else) after it.
    followed: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fired": self.fired,
            "customers": len(self.customers),
            "verdicts": dict(sorted(self.verdicts.items())),
            "confirmed_or_converted": len(self.followed),
        }


class Outcomes:
    """What the events say happened after an action: confirmed fraud, conversions."""

    def __init__(self, events: Iterable[Event], attribution_s: float) -> None:
        self.attribution_s = attribution_s
        self.confirmed: set[str] = set()
        self.conversions: dict[str, list[float]] = defaultdict(list)
        for event in events:
            if isinstance(event, FraudReport) or (
                isinstance(event, Chargeback) and event.reason == "fraud"
            ):
                self.confirmed.add(event.payment_id)
            elif isinstance(event, Purchase) or (
                isinstance(event, OfferFeedback) and event.outcome == "converted"
            ):
                self.conversions[event.actor_id].append(event.ts)

    def followed(self, action: Action) -> bool:
        if isinstance(action, FraudAlertAction):
            return action.payment_id in self.confirmed
        at = action.event_time.timestamp()
        return any(at < t <= at + self.attribution_s for t in self.conversions[action.customer_id])


def figures(decided: Iterable[Decided], outcomes: Outcomes) -> dict[str, RuleFigures]:
    by_rule: dict[str, RuleFigures] = defaultdict(RuleFigures)
    for item in decided:
        rule = by_rule[item.action.rule_id]
        rule.fired += 1
        rule.customers.add(item.action.customer_id)
        rule.verdicts[item.decision.verdict] += 1
        if outcomes.followed(item.action):
            rule.followed.add(item.action.customer_id)
    return dict(by_rule)


def sources(rules: RuleSet) -> set[str]:
    """What can act in `rules`: each enabled rule and each journey's send step, by the
    rule id its actions carry (`<journey>.<step>`)."""
    ids = {rule.id for rule in rules.rules if rule.spec.enabled}
    return ids | {s.rule.id for j in rules.journeys for s in j.steps if s.rule is not None}


def compare(
    candidate: dict[str, RuleFigures],
    live: dict[str, RuleFigures],
    named: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """Per rule (or journey step) of either version: the candidate's figures, and how many
    more (or fewer) times it fires, and on how many more customers, than the rules in
    force. Those in `named` are listed even if they never fired (a step never reached)."""
    out = {}
    for rule_id in sorted(candidate.keys() | live.keys() | set(named)):
        mine, theirs = candidate.get(rule_id, RuleFigures()), live.get(rule_id, RuleFigures())
        out[rule_id] = {
            **mine.to_dict(),
            "fired_vs_live": mine.fired - theirs.fired,
            "customers_vs_live": len(mine.customers) - len(theirs.customers),
            "live_fired": theirs.fired,
        }
    return out


def table(rows: dict[str, dict[str, Any]], write: Callable[[str], None]) -> None:
    width = max([24, *(len(rule_id) for rule_id in rows)])
    write(
        f"{'rule':<{width}} {'fired':>7} {'customers':>9} {'sent':>7} {'held':>7} "
        f"{'followed':>8} {'vs live':>8}"
    )
    for rule_id, row in rows.items():
        verdicts = row["verdicts"]
        held = sum(n for verdict, n in verdicts.items() if verdict != "deliver")
        write(
            f"{rule_id:<{width}} {row['fired']:>7,} {row['customers']:>9,} "
            f"{verdicts.get('deliver', 0):>7,} {held:>7,} {row['confirmed_or_converted']:>8,} "
            f"{row['fired_vs_live']:>+8,}"
        )
