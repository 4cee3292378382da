"""Outbound actions: what a customer actor decides to do.

An action carries everything a downstream system or an analyst needs: which rule fired on
which event, the model scores and versions behind the decision, and an idempotency key
derived from (customer, rule, triggering event) so that a replayed event can never send
the same action twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from actors.model.decision import DecisionRecord

ACTION_SCHEMA_VERSION: Literal[1] = 1

ActionKind = Literal["marketing", "fraud", "service"]
Channel = Literal["email", "push", "sms", "in_app", "alert"]
SinkName = Literal["kafka", "amqp", "webhook", "email", "log"]
PayloadValue = str | int | float | bool | None


def idempotency_key(customer_id: str, rule_id: str, trigger_id: str) -> str:
    """Same customer, rule and trigger → same key, in every process, on every replay."""
    digest = hashlib.sha256(f"{customer_id}\x1f{rule_id}\x1f{trigger_id}".encode()).hexdigest()
    return digest[:32]


def action_id_for(key: str) -> str:
    return "act_" + key[:24]


class _ActionBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = ACTION_SCHEMA_VERSION
    action_id: str
    idempotency_key: str
    customer_id: str
    rule_id: str
    kind: ActionKind
    channel: Channel
    sink: SinkName = "kafka"
    campaign: str | None = None
    trigger_event_id: str
    trigger: str
    event_time: datetime
    created_at: datetime
    message: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    model_versions: dict[str, str] = Field(default_factory=dict)
    payload: dict[str, PayloadValue] = Field(default_factory=dict)
    # The customer is in the campaign's holdout group: decided and counted, never sent.
    held_out: bool = False
    # For guardrails and sinks: the customer's time zone (quiet hours) and, for e-mail,
    # the address to send to.
    timezone: str | None = None
    contact: str | None = None
    # The customer's language (`identify` trait `locale`, `fr-CA`): which template's
    # locale an e-mail is written in (actors.rules.emails).
    locale: str | None = None


class OfferAction(_ActionBase):
    type: Literal["offer"] = "offer"
    offer_id: str
    offer_title: str
    expected_value: float


class CartReminderAction(_ActionBase):
    type: Literal["cart_reminder"] = "cart_reminder"
    cart_items: int
    cart_value: float
    products: tuple[str, ...] = ()


class FraudAlertAction(_ActionBase):
    type: Literal["fraud_alert"] = "fraud_alert"
    payment_id: str
    amount: float
    merchant: str
    country: str
    severity: Literal["low", "medium", "high"]
    reasons: tuple[str, ...] = ()


class ContentRecommendationAction(_ActionBase):
    type: Literal["content_recommendation"] = "content_recommendation"
    genre: str
    recent_content: tuple[str, ...] = ()


class WelcomeBackAction(_ActionBase):
    type: Literal["welcome_back"] = "welcome_back"
    days_away: float
    offer_id: str | None = None


class ReengagementAction(_ActionBase):
    type: Literal["reengagement"] = "reengagement"
    days_inactive: float


class DecisionAction(_ActionBase):
    """A decision's record on its way to the decision log (actors.model.decision): it goes
    to the `decisions` sink only, reaches no customer and passes no guardrail."""

    type: Literal["decision"] = "decision"
    kind: Literal["service"] = "service"
    channel: Literal["decision_log"] = "decision_log"  # type: ignore[assignment]
    sink: Literal["decisions"] = "decisions"  # type: ignore[assignment]
    decision: DecisionRecord


# What a rule's action can be (a decision record is made by engage, never by a rule).
ActionType = Literal[
    "offer",
    "cart_reminder",
    "fraud_alert",
    "content_recommendation",
    "welcome_back",
    "reengagement",
]
Action = Annotated[
    OfferAction
    | CartReminderAction
    | FraudAlertAction
    | ContentRecommendationAction
    | WelcomeBackAction
    | ReengagementAction
    | DecisionAction,
    Field(discriminator="type"),
]
ACTION_TYPES: tuple[ActionType, ...] = get_args(ActionType)
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)


def action_to_json(action: Action) -> bytes:
    return action.model_dump_json().encode()


def action_from_json(raw: bytes | str) -> Action:
    return ACTION_ADAPTER.validate_json(raw)
