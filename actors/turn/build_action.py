"""An action as a rule (or a journey's send step) builds it: the common envelope (ids,
channel, campaign, holdout, template), then the fields of its type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actors.errors import TemplateError
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
from actors.model.events import CardPayment, Event
from actors.model.model_names import FRAUD
from actors.model.state import CustomerState
from actors.rules.context import LazyContext
from actors.rules.specs import Rule
from actors.rules.templates import render
from actors.turn.action_details import fraud_reasons, severity
from actors.turn.offers import RankedOffer


@dataclass(frozen=True, slots=True)
class Trigger:
    """What a turn answers: an event, or a reminder (no event)."""

    name: str
    trigger_id: str
    at: float
    event: Event | None


def build_action(
    control: str | None,
    now: float,
    rule: Rule,
    customer_id: str,
    state: CustomerState,
    trigger: Trigger,
    context: LazyContext,
    scores: dict[str, float],
    versions: dict[str, str],
    best: RankedOffer | None,
) -> Action:
    """`control`: the control group the customer is in (actors.outcomes.attribution), which
    holds the action; None sends it."""
    spec = rule.spec.action
    key = idempotency_key(customer_id, rule.id, trigger.trigger_id)
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
        "created_at": datetime.fromtimestamp(now, UTC),
        "message": render(spec.template, context) if spec.template else None,
        "scores": {k: round(v, 6) for k, v in scores.items()},
        "model_versions": versions,
        "payload": {
            k: render(v, context) if isinstance(v, str) else v for k, v in spec.payload.items()
        },
        # Decided and held for a control group's customer (marketing only has one).
        "held_out": control is not None,
        "timezone": state.timezone,
        "contact": state.email if spec.channel == "email" else None,
        "locale": _locale(state),
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
        days_inactive=round((now - (state.last_event_at or now)) / 86_400, 2),
    )


def _locale(state: CustomerState) -> str | None:
    locale = (state.traits or {}).get("locale")
    return locale[:35] if isinstance(locale, str) and locale else None
