"""The shapes of a rules file's parts (pydantic): reminders, actions, rules, policy.

Validated field by field when a file is read; actors.rules.ruleset checks what reaches
across parts (triggers, the fields conditions read) and compiles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actors.model.actions import ActionKind, ActionType, Channel, SinkName
from actors.model.consent import ConsentKey
from actors.model.events import EVENT_TYPES
from actors.rules.conditions import Condition
from actors.rules.durations import Duration


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReminderSpec(Spec):
    """A durable timer: set by some events, cancelled by others, fired on wall-clock time."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    set_on: tuple[str, ...]
    cancel_on: tuple[str, ...] = ()
    after: Duration
    when: str | None = None

    @field_validator("set_on", "cancel_on")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in EVENT_TYPES:
                raise ValueError(f"unknown event type {name!r}")
        return value


class ActionSpec(Spec):
    type: ActionType
    channel: Channel
    sink: SinkName = "kafka"
    campaign: str | None = None
    template: str | None = None
    payload: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RuleSpec(Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    kind: ActionKind
    triggers: tuple[str, ...] = Field(min_length=1)
    when: str | None = None
    priority: int = 0
    cooldown: Duration | None = None
    once_per: Literal["session", "customer"] | None = None
    enabled: bool = True
    action: ActionSpec


class CapSpec(Spec):
    """How many marketing actions a customer may receive; absent means no cap."""

    day: int | None = Field(default=None, ge=0)
    week: int | None = Field(default=None, ge=0)


class QuietHoursSpec(Spec):
    """Marketing waits through these local hours; fraud alerts and service never wait."""

    start: str = Field(default="21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # Used when the customer's time zone is unknown.
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ExplorationSpec(Spec):
    """The share of offer decisions whose first offer is drawn rather than the best
    (actors.decisions.exploration): `share` by default, a domain's own share where one is
    given, and a channel's where one is given (0 on a channel that wants pure
    exploitation)."""

    share: float = Field(default=0.0, ge=0.0, lt=1.0)
    domains: dict[str, Annotated[float, Field(ge=0.0, lt=1.0)]] = Field(default_factory=dict)
    channels: dict[Channel, Annotated[float, Field(ge=0.0, lt=1.0)]] = Field(default_factory=dict)

    def share_for(self, channel: str | None, domain: str | None) -> float:
        for name, share in self.channels.items():
            if name == channel:
                return share
        if domain is not None and domain in self.domains:
            return self.domains[domain]
        return self.share


class PolicySpec(Spec):
    """Turn-wide policy and guardrails. Marketers tune these with the rules, so they
    reload with them."""

    # After a fraud alert, no marketing to that customer for this long (event time).
    suppress_marketing_after_fraud: Duration = 86_400.0
    # Marketing actions per trigger: the highest-priority rule that holds wins.
    max_marketing_per_trigger: int = Field(default=1, ge=0, le=10)
    # Frequency caps per customer: by channel and by campaign; the most restrictive wins.
    channel_caps: dict[Channel, CapSpec] = Field(default_factory=dict)
    campaign_caps: dict[str, CapSpec] = Field(default_factory=dict)
    quiet_hours: QuietHoursSpec | None = None
    # Share of customers held out of each campaign (no action; measured for uplift).
    holdout: dict[str, float] = Field(default_factory=dict)
    # Share of all customers that gets no marketing at all, from any rule, journey or
    # next-best-offer answer: the control group of the whole programme. Stable per
    # customer; their marketing actions are decided and held, as a holdout's are.
    global_control: float = Field(default=0.0, ge=0.0, lt=1.0)
    # An offer made to a customer (shown, ignored or declined) is not made again, by a
    # rule or by next-best-offer, for this long (0: no such wait).
    no_repeat_within: Duration = 0.0
    # Outcomes (clicks, purchases) count for an offer this long after it (event time).
    attribution_window: Duration = 7 * 86_400.0
    # A share of offer decisions explores (the first offer drawn among the eligible).
    exploration: ExplorationSpec = Field(default_factory=ExplorationSpec)
    # Consent a customer must have granted before anything is sent for it (opt-in, as
    # e-mail and SMS marketing are in much of Europe); every other channel and purpose
    # is granted until withdrawn (actors.model.consent).
    opt_in: frozenset[ConsentKey] = frozenset()

    @field_validator("holdout")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        for campaign, share in value.items():
            if not 0.0 <= share < 1.0:
                raise ValueError(f"holdout share of {campaign!r} must be in [0, 1)")
        return value


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: its spec, its parsed condition, the models its turn must score."""

    spec: RuleSpec
    condition: Condition | None
    models: frozenset[str]

    @property
    def id(self) -> str:
        return self.spec.id
