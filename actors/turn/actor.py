"""CustomerActor: what one customer does with one message (a turn).

The actor itself holds no state between turns: the shard gives it the customer's
`CustomerState`, the actor mutates it and returns the effects (actions to send,
reminders to set or cancel). The shard saves state and effects together before it acks,
which is what makes effects survive a crash.

A turn, step by step:

1. drop a duplicate (seen already: actors.model.dedup) — redelivery after a crash is normal;
2. take what must be seen before the event (payment features, time away);
3. apply the event to the state (`CustomerState.apply`, the same code training replays);
4. keep the rules for this trigger that can still fire (state-only checks first:
   conditions evaluated with scores unknown, cooldown, once-per, consent, suppression);
5. score only the models those rules need (one coalesced call per model per shard tick);
6. evaluate, pick (every fraud / service rule, the best marketing rule), build actions;
7. record what fired in the state and derive reminder changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from actors.catalog.follower import CatalogFollower
from actors.errors import TemplateError
from actors.model import consent
from actors.model.actions import Action
from actors.model.catalog import OFFERS
from actors.model.decision import DecisionSource
from actors.model.dedup import NO_ARRIVAL, Arrival, Seen
from actors.model.events import CardPayment, Decision, Event, Identify, OfferFeedback, Purchase
from actors.model.features import payment_features
from actors.model.model_names import RECOMMENDER
from actors.model.offer_features import affinities_at
from actors.model.state import CustomerState
from actors.outcomes.attribution import attribute, control_group, counter, record_of
from actors.rules.conditions import UNKNOWN
from actors.rules.context import Before, LazyContext, build_context
from actors.rules.journeys import JOURNEY_REMINDER_PREFIX
from actors.rules.ruleset import REMINDER_PREFIX, Rule, RuleSet
from actors.turn import journeys
from actors.turn.action_details import offer_view
from actors.turn.build_action import Trigger, build_action
from actors.turn.decision_log import remember_answer, rule_decision
from actors.turn.offers import Audience, offered_counts, recent_offers
from actors.turn.outcome import UNKNOWN_REDELIVERY, RejectedAction, TurnOutcome
from actors.turn.prefetch import NO_SCORES, BatchScores
from actors.turn.scoring import Scorer
from actors.turn.turn_scoring import Scored, TurnScoring

log = logging.getLogger(__name__)


class CustomerActor:
    """The behaviour shared by every customer actor: rules, scoring, actions."""

    def __init__(
        self,
        rules: RuleSet,
        scorer: Scorer,
        clock: Callable[[], float] = time.time,
        trace: bool = True,
        catalog: CatalogFollower | None = None,
    ) -> None:
        self.rules = rules
        self.scorer = scorer
        # The offers ranked for `offer.*` in templates and `scores.offer_*` in conditions.
        self.catalog = catalog or CatalogFollower(None)
        self.clock = clock
        # Whether turns record why they decided what they did (TurnOutcome.trace).
        self.trace = trace

    async def on_event(
        self,
        customer_id: str,
        state: CustomerState,
        event: Event,
        arrival: Arrival = NO_ARRIVAL,
        scores: BatchScores = NO_SCORES,
    ) -> TurnOutcome:
        """One event's turn. `arrival` says where and when the event was read;
        `scores` holds what was scored ahead for the batch (actors.turn.prefetch); a row
        not found there is scored now."""
        # 1. duplicate
        seen = state.seen(event, arrival)
        if seen is Seen.DUPLICATE:
            return TurnOutcome(duplicate=True)
        if seen is Seen.UNKNOWN:
            return TurnOutcome(refused=UNKNOWN_REDELIVERY)
        at = event.ts
        # 2. before
        before = _before(state, event)
        # 3. apply
        state.apply(event, arrival)
        trigger = Trigger(event.type, event.event_id, at, event)
        outcome = await self._run_rules(customer_id, state, trigger, before, ahead=scores)
        if isinstance(event, Purchase | OfferFeedback):
            outcome.counters += attribute(state, event, self.rules.policy.attribution_window)
        elif isinstance(event, Decision):
            logged, counters = remember_answer(state, event, self.clock())
            outcome.decisions.append(logged)
            outcome.counters += counters
        if isinstance(event, Identify) and state.consent and event.consent_answers():
            # The dispatcher's guardrails read consent beside the state, not in it.
            outcome.guard.update(consent.guard_facts(state.consent))
        # Journeys and segments read one context of the state after the event (built only
        # when a journey reacts to this event type or segments are kept).
        after: LazyContext | None = None
        if event.type in self.rules.journey_events:
            after = self._state_only_context(customer_id, state, trigger, before, None)
            turn = self._journey_turn(customer_id, state, trigger, before, outcome, after)
            await journeys.on_event(self.rules.journeys, turn, event.type)
        # 7. reminders (wall clock: a reminder fires 30 minutes from *now*)
        now = self.clock()
        for reminder in self.rules.reminders_cancelled_by(event.type):
            outcome.reminders_cancelled.append(reminder.spec.kind)
        for reminder in self.rules.reminders_set_by(event.type):
            if reminder.condition is None or reminder.condition.evaluate(
                build_context(customer_id, state, at, event, before, 0.0, self.rules.segments)
            ):
                outcome.reminders_set.append((reminder.spec.kind, now + reminder.spec.after))
        if self.rules.segments or state.segments:
            # Saved with the state: the commit that saves it keeps the slot's member sets.
            if after is None:
                after = self._state_only_context(customer_id, state, trigger, before, None)
            state.segments = after["segment"].members_of() or None
        return outcome

    async def on_reminder(
        self, customer_id: str, state: CustomerState, kind: str, due_at: float
    ) -> TurnOutcome:
        trigger_id = f"reminder.{kind}.{due_at:.3f}"
        if state.has_trigger(trigger_id):
            return TurnOutcome(duplicate=True)
        # A reminder has no event time of its own; the customer's clock stands where its
        # last event left it, plus the time the reminder waited.
        at = max(state.last_event_at or 0.0, due_at)
        trigger = Trigger(REMINDER_PREFIX + kind, trigger_id, at, None)
        before = Before(days_away=0.0, payment=None)
        if kind.startswith(JOURNEY_REMINDER_PREFIX):
            outcome = TurnOutcome()
            turn = self._journey_turn(customer_id, state, trigger, before, outcome)
            await journeys.on_wake(self.rules.journeys, turn, kind)
        else:
            outcome = await self._run_rules(
                customer_id, state, trigger, before, reminder={"kind": kind, "due_at": due_at}
            )
        state.record_trigger(trigger_id, due_at)
        return outcome

    def _journey_turn(
        self,
        customer_id: str,
        state: CustomerState,
        trigger: Trigger,
        before: Before,
        outcome: TurnOutcome,
        context: LazyContext | None = None,
    ) -> journeys.JourneyTurn:
        if context is None:
            context = self._state_only_context(customer_id, state, trigger, before, None)

        async def send(rule: Rule, context: LazyContext) -> journeys.Sent:
            return await self._send_step(
                rule, customer_id, state, trigger, before, context, outcome
            )

        return journeys.JourneyTurn(
            state,
            trigger.name,
            trigger.trigger_id,
            trigger.at,
            self.clock(),
            context,
            outcome,
            send,
            self.trace,
        )

    async def _send_step(
        self,
        rule: Rule,
        customer_id: str,
        state: CustomerState,
        trigger: Trigger,
        before: Before,
        context: LazyContext,
        outcome: TurnOutcome,
    ) -> journeys.Sent:
        """A journey's send: blocked as a marketing rule is, scored for what its template
        reads, built and guarded as a rule's action."""
        blocked = self._marketing_blocked(rule, state, trigger)
        if blocked is not None:
            return f"not sent: {blocked}"
        scored = Scored()
        if rule.models:
            audience = self._audience(state, trigger, context)
            scored = await self._score(
                set(rule.models), customer_id, state, trigger, before, NO_SCORES, audience, rule
            )
            view: dict[str, Any] = dict(scored.scores)
            best = scored.best
            if best is not None:
                view["offer"], view["offer_category"] = best.offer_id, best.category
            context.set("scores", view)
            context.set("offer", offer_view(best))
        return self._act(rule, customer_id, state, trigger, context, scored, outcome, "journey")

    def _act(
        self,
        rule: Rule,
        customer_id: str,
        state: CustomerState,
        trigger: Trigger,
        context: LazyContext,
        scored: Scored,
        outcome: TurnOutcome,
        source: DecisionSource = "rule",
    ) -> Action | RejectedAction:
        """The action `rule` takes (a marketing one remembered for attribution and
        counted as sent, an offer's decision logged), or the rejection of one its
        template cannot build."""
        campaign = rule.spec.action.campaign
        context.set("rule", {"id": rule.id, "campaign": campaign})
        # The control group a marketing action's customer is in, drawn once: it holds the
        # action, names its report arm and goes into the decision's record.
        control = None
        if rule.spec.kind == "marketing":
            control = control_group(customer_id, campaign, self.rules.policy)
        try:
            action = build_action(
                control,
                self.clock(),
                rule,
                customer_id,
                state,
                trigger,
                context,
                scored.scores,
                scored.versions,
                scored.best,
            )
        except (TemplateError, ValidationError) as error:
            return RejectedAction(rule.id, customer_id, trigger.trigger_id, str(error))
        if rule.spec.kind == "marketing" and action.campaign:
            record = record_of(action, control)
            state.remember_action(record)
            outcome.counters.append(counter("sent", record))
        logged = rule_decision(
            action,
            source,
            scored,
            control,
            self.rules.source,
            self.catalog.catalog.version,
            self.clock(),
        )
        if logged is not None:
            outcome.decisions.append(logged)
        return action

    async def _run_rules(
        self,
        customer_id: str,
        state: CustomerState,
        trigger: Trigger,
        before: Before,
        reminder: dict[str, Any] | None = None,
        ahead: BatchScores = NO_SCORES,
    ) -> TurnOutcome:
        outcome = TurnOutcome()
        rules = self.rules.for_trigger(trigger.name)
        if not rules:
            return outcome
        policy = self.rules.policy
        verdicts: dict[str, str] = {}
        if self.trace:
            outcome.trace = {
                "at": trigger.at,
                "trigger": trigger.name,
                "trigger_id": trigger.trigger_id,
                "rules": verdicts,
            }
        # 4. state-only filtering, scores unknown
        context = self._state_only_context(customer_id, state, trigger, before, reminder)
        candidates = []
        for rule in rules:
            blocker = self._blocker(rule, state, trigger, context)
            if blocker is None:
                candidates.append(rule)
            else:
                verdicts[rule.id] = blocker
        if not candidates:
            return outcome
        # 5. score what the candidates need
        needed: set[str] = set()
        for rule in candidates:
            needed |= rule.models
        # Who the offers are for: read only when an offer is ranked (fraud turns are not).
        audience = self._audience(state, trigger, context) if RECOMMENDER in needed else Audience()
        offering = next((r for r in candidates if RECOMMENDER in r.models), None)
        scored = await self._score(
            needed, customer_id, state, trigger, before, ahead, audience, offering
        )
        scores, versions, best = scored.scores, scored.versions, scored.best
        outcome.scores = scores
        if outcome.trace is not None:
            outcome.trace["scores"] = {k: round(v, 6) for k, v in scores.items()}
            outcome.trace["models"] = versions
        score_view: dict[str, Any] = dict(scores)
        if best is not None:
            score_view["offer"] = best.offer_id
            score_view["offer_category"] = best.category
        context.set("scores", score_view)
        context.set("offer", offer_view(best))
        # 6. evaluate and pick
        marketing_left = policy.max_marketing_per_trigger
        for rule in candidates:
            if rule.condition is not None and not rule.condition.evaluate(context):
                verdicts[rule.id] = "condition false"
                continue
            if rule.spec.kind == "marketing":
                if marketing_left <= 0:
                    verdicts[rule.id] = "a higher-priority marketing rule fired"
                    continue
                marketing_left -= 1
            action = self._act(rule, customer_id, state, trigger, context, scored, outcome)
            if isinstance(action, RejectedAction):
                outcome.rejected.append(action)
                verdicts[rule.id] = f"action refused: {action.reason}"
                continue
            verdicts[rule.id] = f"fired: {action.type} {action.action_id}"
            outcome.actions.append(action)
            state.mark_fired(rule.id, trigger.at)
            if rule.spec.kind == "fraud":
                state.fraud_alert_at = trigger.at
                outcome.guard["fraud_at"] = repr(trigger.at)
        return outcome

    def _audience(self, state: CustomerState, trigger: Trigger, context: LazyContext) -> Audience:
        """Who an offer is for, beyond the model's features: eligibility, caps, recency."""
        return Audience(
            context["customer"],
            offered_counts(state),
            affinities_at(state, trigger.at),
            context["segment"],
            recent_offers(state, trigger.at, self.rules.policy.no_repeat_within),
        )

    def before(self, state: CustomerState, event: Event) -> Before:
        """What a turn takes from the state before `event` is applied."""
        return _before(state, event)

    def models_wanted(
        self, customer_id: str, state: CustomerState, event: Event, before: Before
    ) -> set[str]:
        """The models a turn for `event` would ask for: those of the rules that pass the
        state-only checks with scores unknown. Called after the event is applied."""
        if not self.rules.models_for(event.type):
            return set()
        rules = self.rules.for_trigger(event.type)
        trigger = Trigger(event.type, event.event_id, event.ts, event)
        context = self._state_only_context(customer_id, state, trigger, before, None)
        needed: set[str] = set()
        for rule in rules:
            if rule.models and self._blocker(rule, state, trigger, context) is None:
                needed |= rule.models
        return needed

    def _state_only_context(
        self,
        customer_id: str,
        state: CustomerState,
        trigger: Trigger,
        before: Before,
        reminder: dict[str, Any] | None,
    ) -> LazyContext:
        context = build_context(
            customer_id,
            state,
            trigger.at,
            trigger.event,
            before,
            self.rules.policy.suppress_marketing_after_fraud,
            self.rules.segments,
        )
        if reminder is not None:
            context.set("reminder", reminder)
        context.set("rule", {})
        context.set("scores", UNKNOWN)
        context.set("offer", UNKNOWN)
        return context

    def _marketing_blocked(self, rule: Rule, state: CustomerState, trigger: Trigger) -> str | None:
        """Why a rule (or send) may not go to the customer now: its channel's consent for
        its purpose, and for marketing the fraud window (actors.model.consent). None for
        fraud alerts, which always may."""
        policy = self.rules.policy
        return consent.blocked(
            rule.spec.kind,
            rule.spec.action.channel,
            state.consent,
            policy.opt_in,
            state.fraud_alert_at,
            trigger.at,
            policy.suppress_marketing_after_fraud,
        )

    def _blocker(
        self, rule: Rule, state: CustomerState, trigger: Trigger, context: LazyContext
    ) -> str | None:
        """Why `rule` cannot fire on this turn whatever the scores, or None if it may."""
        spec = rule.spec
        blocked = self._marketing_blocked(rule, state, trigger)
        if blocked is not None:
            return blocked
        fired = (state.fired or {}).get(spec.id)
        if fired is not None:
            fired_at, fired_session = fired
            if spec.once_per == "customer":
                return "fired already (once per customer)"
            if spec.once_per == "session" and fired_session == state.session_index:
                return "fired already this session"
            if spec.cooldown is not None and trigger.at - fired_at < spec.cooldown:
                return "in its cooldown"
        if rule.condition is not None and rule.condition.evaluate_partial(context) is False:
            return "condition false"
        return None

    async def _score(
        self,
        needed: set[str],
        customer_id: str,
        state: CustomerState,
        trigger: Trigger,
        before: Before,
        ahead: BatchScores,
        audience: Audience,
        offering: Rule | None = None,
    ) -> Scored:
        """The scores `needed`; the offer decision explores at the share of the channel
        of `offering`, the rule whose offer it is for (the turn's first that ranks one)."""
        channel = offering.spec.action.channel if offering is not None else None
        exploration = self.rules.policy.exploration
        asked = TurnScoring(self.scorer, self.catalog.catalog, self.clock(), exploration, channel)
        return await asked.score(
            needed, customer_id, state, trigger.at, trigger.trigger_id, before, ahead, audience
        )


def _before(state: CustomerState, event: Event) -> Before:
    last = state.last_event_at
    days_away = max(0.0, (event.ts - last) / 86_400.0) if last is not None else 0.0
    payment = payment_features(state, event) if isinstance(event, CardPayment) else None
    return Before(days_away=days_away, payment=payment)


__all__ = ["OFFERS", "CustomerActor", "RejectedAction", "TurnOutcome"]
