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

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from actors.catalog.follower import CatalogFollower
from actors.errors import ModelError, TemplateError
from actors.model.actions import (
    Action,
    CartReminderAction,
    ContentRecommendationAction,
    FraudAlertAction,
    OfferAction,
    ReengagementAction,
    WelcomeBackAction,
    action_id_for,
    idempotency_key,
)
from actors.model.catalog import OFFERS
from actors.model.consent import marketing_blocked
from actors.model.dedup import NO_ARRIVAL, Arrival, Seen
from actors.model.events import CardPayment, Event, Identify, OfferFeedback, Purchase
from actors.model.features import features, payment_features
from actors.model.model_names import FRAUD, RECOMMENDER, WINBACK
from actors.model.state import CustomerState
from actors.outcomes.attribution import attribute, counter, in_holdout, record_of
from actors.rules.conditions import UNKNOWN
from actors.rules.context import Before, LazyContext, build_context
from actors.rules.ruleset import REMINDER_PREFIX, Rule, RuleSet
from actors.rules.templates import render
from actors.turn.action_details import fraud_reasons, offer_view, severity
from actors.turn.offers import (
    Audience,
    RankedOffer,
    affinities_of,
    offered_counts,
    rank_offers,
)
from actors.turn.outcome import UNKNOWN_REDELIVERY, RejectedAction, TurnOutcome
from actors.turn.prefetch import NO_SCORES, BatchScores
from actors.turn.scoring import Score, Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Trigger:
    name: str
    trigger_id: str
    at: float
    event: Event | None


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
        trigger = _Trigger(event.type, event.event_id, at, event)
        outcome = await self._run_rules(customer_id, state, trigger, before, ahead=scores)
        if isinstance(event, Purchase | OfferFeedback):
            outcome.counters += attribute(state, event, self.rules.policy.attribution_window)
        if isinstance(event, Identify) and event.consent_marketing is not None:
            outcome.guard["optout"] = "0" if event.consent_marketing else "1"
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
            suppress_s = self.rules.policy.suppress_marketing_after_fraud
            context = build_context(
                customer_id, state, at, event, before, suppress_s, self.rules.segments
            )
            state.segments = context["segment"].members_of() or None
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
        trigger = _Trigger(REMINDER_PREFIX + kind, trigger_id, at, None)
        before = Before(days_away=0.0, payment=None)
        outcome = await self._run_rules(
            customer_id, state, trigger, before, reminder={"kind": kind, "due_at": due_at}
        )
        state.record_trigger(trigger_id, due_at)
        return outcome

    async def _run_rules(
        self,
        customer_id: str,
        state: CustomerState,
        trigger: _Trigger,
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
        audience = (
            Audience(
                context["customer"],
                offered_counts(state),
                affinities_of(state, trigger.at),
                context["segment"],
            )
            if RECOMMENDER in needed
            else Audience()
        )
        scores, versions, best = await self._score(
            needed, customer_id, state, trigger, before, ahead, audience
        )
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
            context.set("rule", {"id": rule.id, "campaign": rule.spec.action.campaign})
            try:
                action = self._build_action(
                    rule, customer_id, state, trigger, context, scores, versions, best
                )
            except (TemplateError, ValidationError) as error:
                outcome.rejected.append(
                    RejectedAction(rule.id, customer_id, trigger.trigger_id, str(error))
                )
                verdicts[rule.id] = f"action refused: {error}"
                continue
            verdicts[rule.id] = f"fired: {action.type} {action.action_id}"
            outcome.actions.append(action)
            state.mark_fired(rule.id, trigger.at)
            if rule.spec.kind == "fraud":
                state.fraud_alert_at = trigger.at
                outcome.guard["fraud_at"] = repr(trigger.at)
            elif rule.spec.kind == "marketing" and action.campaign:
                record = record_of(action)
                state.remember_action(record)
                outcome.counters.append(counter("sent", record))
        return outcome

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
        trigger = _Trigger(event.type, event.event_id, event.ts, event)
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
        trigger: _Trigger,
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

    def _blocker(
        self, rule: Rule, state: CustomerState, trigger: _Trigger, context: LazyContext
    ) -> str | None:
        """Why `rule` cannot fire on this turn whatever the scores, or None if it may."""
        spec = rule.spec
        if spec.kind == "marketing":
            blocked = marketing_blocked(
                state.consent_marketing,
                state.fraud_alert_at,
                trigger.at,
                self.rules.policy.suppress_marketing_after_fraud,
            )
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
        trigger: _Trigger,
        before: Before,
        ahead: BatchScores,
        audience: Audience,
    ) -> tuple[dict[str, float], dict[str, str], RankedOffer | None]:
        scores: dict[str, float] = {}
        versions: dict[str, str] = {}
        best: RankedOffer | None = None
        fraud_row = before.payment if FRAUD in needed else None
        wants_customer = RECOMMENDER in needed or WINBACK in needed
        customer = features(state, trigger.at) if wants_customer else None
        fraud = recommended = None
        if fraud_row is not None:
            fraud = ahead.take(customer_id, trigger.trigger_id, FRAUD, fraud_row)
        if customer is not None:
            recommended = ahead.take(customer_id, trigger.trigger_id, RECOMMENDER, customer)
        requests = []
        if fraud_row is not None and fraud is None:
            requests.append(self.scorer.score(FRAUD, [fraud_row]))
        if RECOMMENDER in needed and customer is not None and recommended is None:
            requests.append(self.scorer.score(RECOMMENDER, [customer]))
        if WINBACK in needed and customer is not None:
            requests.append(self._optional_score(WINBACK, customer))
        if len(requests) == 1:
            answers = [await requests[0]]
        elif requests:
            # Both models at once: one round trip to the model server, not two in a row.
            # (Only then: gather wraps each request in a task, which costs more than
            # awaiting a single one.)
            answers = list(await asyncio.gather(*requests))
        if fraud_row is not None:
            if fraud is None:
                (fraud,) = answers.pop(0)
            scores[FRAUD] = fraud.values[0]
            versions[FRAUD] = fraud.version
        if RECOMMENDER in needed and customer is not None:
            if recommended is None:
                (recommended,) = answers.pop(0)
            versions[RECOMMENDER] = recommended.version
            ranked = rank_offers(
                customer,
                recommended.values,
                k=1,
                catalog=self.catalog.catalog,
                at=self.clock(),
                audience=audience,
            )
            if ranked:
                best = ranked[0]
                scores["offer_p"] = best.probability
                scores["offer_value"] = best.expected_value
        if WINBACK in needed and customer is not None:
            winback = answers.pop(0)  # empty when no win-back model is served
            if winback:
                scores[WINBACK] = winback[0].values[0]
                versions[WINBACK] = winback[0].version
        return scores, versions, best

    async def _optional_score(self, model: str, row: Sequence[float]) -> list[Score]:
        """A model a deployment may lack: without a champion the score is missing (a rule
        reading it finds null and holds), and nothing else of the turn fails. An outage of
        the scorer still fails the turn, to be retried."""
        try:
            return await self.scorer.score(model, [row])
        except ModelError:
            return []

    def _build_action(
        self,
        rule: Rule,
        customer_id: str,
        state: CustomerState,
        trigger: _Trigger,
        context: LazyContext,
        scores: dict[str, float],
        versions: dict[str, str],
        best: RankedOffer | None,
    ) -> Action:
        spec = rule.spec.action
        key = idempotency_key(customer_id, rule.id, trigger.trigger_id)
        policy = self.rules.policy
        campaign = spec.campaign
        held_out = (
            rule.spec.kind == "marketing"
            and campaign is not None
            and in_holdout(customer_id, campaign, policy.holdout.get(campaign, 0.0))
        )
        common: dict[str, Any] = {
            "action_id": action_id_for(key),
            "idempotency_key": key,
            "customer_id": customer_id,
            "rule_id": rule.id,
            "kind": rule.spec.kind,
            "channel": spec.channel,
            "sink": spec.sink,
            "campaign": spec.campaign,
            "trigger_event_id": trigger.trigger_id,
            "trigger": trigger.name,
            "event_time": datetime.fromtimestamp(trigger.at, UTC),
            "created_at": datetime.fromtimestamp(self.clock(), UTC),
            "message": render(spec.template, context) if spec.template else None,
            "scores": {k: round(v, 6) for k, v in scores.items()},
            "model_versions": versions,
            "payload": {
                k: render(v, context) if isinstance(v, str) else v for k, v in spec.payload.items()
            },
            "held_out": held_out,
            "timezone": state.timezone,
            "contact": state.email if spec.channel == "email" else None,
        }
        event = trigger.event
        if spec.type == "offer":
            if best is None:
                raise TemplateError(spec.template or "", "scores.offer")
            return OfferAction(
                **common,
                offer_id=best.offer_id,
                offer_title=best.title,
                expected_value=round(best.expected_value, 4),
            )
        if spec.type == "fraud_alert":
            assert isinstance(event, CardPayment)  # rules validation guarantees it
            return FraudAlertAction(
                **common,
                payment_id=event.payment_id,
                amount=event.amount,
                merchant=event.merchant,
                country=event.country,
                severity=severity(scores.get(FRAUD, 0.0)),
                reasons=fraud_reasons(context),
            )
        if spec.type == "cart_reminder":
            cart = context["cart"]
            return CartReminderAction(
                **common,
                cart_items=cart["items"],
                cart_value=cart["value"],
                products=tuple(cart["products"]),
            )
        if spec.type == "content_recommendation":
            genre = getattr(event, "genre", None) or state.top_affinity(trigger.at) or "drama"
            return ContentRecommendationAction(
                **common, genre=genre, recent_content=tuple(state.session_content or ())
            )
        if spec.type == "welcome_back":
            return WelcomeBackAction(
                **common,
                days_away=round(context["customer"]["days_away"], 2),
                offer_id=best.offer_id if best else None,
            )
        return ReengagementAction(
            **common,
            days_inactive=round((self.clock() - (state.last_event_at or self.clock())) / 86_400, 2),
        )


def _before(state: CustomerState, event: Event) -> Before:
    last = state.last_event_at
    days_away = max(0.0, (event.ts - last) / 86_400.0) if last is not None else 0.0
    payment = payment_features(state, event) if isinstance(event, CardPayment) else None
    return Before(days_away=days_away, payment=payment)


__all__ = ["OFFERS", "CustomerActor", "RejectedAction", "TurnOutcome"]
