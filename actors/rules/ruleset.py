"""Rules as data: what a customer actor does when an event or a reminder arrives.

A rules file (YAML) is validated in full before it is used: every condition is parsed,
every field a condition or template reads is checked against what the turn provides, and
any fault is reported as `RuleError(rule, field, reason)`. A file that fails validation
never replaces the rules in force.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actors.errors import ConditionSyntaxError, RuleError, RulesRefusedError
from actors.model.actions import ACTION_TYPES, ActionKind, ActionType, Channel, SinkName
from actors.model.events import EVENT_MODELS, EVENT_TYPES
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES
from actors.model.model_names import FRAUD, RECOMMENDER, WINBACK
from actors.rules.conditions import Condition, parse_condition
from actors.rules.context import CustomerView, SessionView
from actors.rules.durations import Duration
from actors.rules.segments import Segment
from actors.rules.templates import template_fields

REMINDER_PREFIX = "reminder:"

# What a condition or template may read, root by root (None: any key).
CONTEXT_FIELDS: dict[str, frozenset[str] | None] = {
    "event": None,
    # What the turn's views compute is what a rule may read: named once, in the views.
    "customer": frozenset(CustomerView.FIELDS),
    "session": frozenset(SessionView.FIELDS),
    "cart": frozenset({"items", "value", "products"}),
    "features": frozenset(CUSTOMER_FEATURES),
    "payment": frozenset(PAYMENT_FEATURES),
    "scores": frozenset({FRAUD, WINBACK, "offer", "offer_p", "offer_value", "offer_category"}),
    "offer": frozenset({"offer_id", "title", "p", "expected_value", "category"}),
    "reminder": frozenset({"kind", "due_at", "set_at"}),
    "rule": frozenset({"id", "campaign"}),
    # The audiences the file names (checked against its `segments` when it compiles).
    "segment": None,
}
# What a segment's condition may read: the customer's state, never one event or score,
# so that membership is a fact about the customer whatever turn it is taken at.
SEGMENT_ROOTS = frozenset({"customer", "session", "cart", "features"})
SEGMENT_NAME = r"^[a-z][a-z0-9_]*$"
RECOMMENDER_FIELDS = frozenset({"offer", "offer_p", "offer_value", "offer_category"})


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReminderSpec(_Spec):
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


class ActionSpec(_Spec):
    type: ActionType
    channel: Channel
    sink: SinkName = "kafka"
    campaign: str | None = None
    template: str | None = None
    payload: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RuleSpec(_Spec):
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


class CapSpec(_Spec):
    """How many marketing actions a customer may receive; absent means no cap."""

    day: int | None = Field(default=None, ge=0)
    week: int | None = Field(default=None, ge=0)


class QuietHoursSpec(_Spec):
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


class PolicySpec(_Spec):
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
    # Outcomes (clicks, purchases) count for an offer this long after it (event time).
    attribution_window: Duration = 7 * 86_400.0

    @field_validator("holdout")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        for campaign, share in value.items():
            if not 0.0 <= share < 1.0:
                raise ValueError(f"holdout share of {campaign!r} must be in [0, 1)")
        return value


class RulesFile(_Spec):
    version: Literal[1] = 1
    policy: PolicySpec = PolicySpec()
    # Audiences: name -> condition over the customer's state (`segment.<name>` in rules).
    segments: dict[str, str] = Field(default_factory=dict)
    reminders: tuple[ReminderSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(SEGMENT_NAME, name):
                raise ValueError(f"segment name {name!r}: lower case letters, digits and _")
        return value


@dataclass(frozen=True, slots=True)
class Rule:
    spec: RuleSpec
    condition: Condition | None
    models: frozenset[str]

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, slots=True)
class Reminder:
    spec: ReminderSpec
    condition: Condition | None


@dataclass(frozen=True)
class RuleSet:
    """Validated, compiled rules, indexed by trigger, highest priority first."""

    rules: tuple[Rule, ...]
    reminders: tuple[Reminder, ...]
    policy: PolicySpec = field(default_factory=PolicySpec)
    source: str = "<memory>"
    segments: tuple[Segment, ...] = ()
    by_trigger: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    # The models any rule of a trigger may score: asked for every event by prefetching.
    models_by_trigger: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.spec.enabled:
                for trigger in rule.spec.triggers:
                    index.setdefault(trigger, []).append(rule)
        for trigger, rules in index.items():
            self.by_trigger[trigger] = tuple(
                sorted(rules, key=lambda r: (-r.spec.priority, r.spec.id))
            )
            self.models_by_trigger[trigger] = frozenset().union(*(r.models for r in rules))

    def for_trigger(self, trigger: str) -> tuple[Rule, ...]:
        return self.by_trigger.get(trigger, ())

    def models_for(self, trigger: str) -> frozenset[str]:
        return self.models_by_trigger.get(trigger, frozenset())

    def reminders_set_by(self, event_type: str) -> list[Reminder]:
        return [r for r in self.reminders if event_type in r.spec.set_on]

    def reminders_cancelled_by(self, event_type: str) -> list[Reminder]:
        return [r for r in self.reminders if event_type in r.spec.cancel_on]


def _compile_condition(owner: str, field_name: str, source: str | None) -> Condition | None:
    if source is None:
        return None
    try:
        condition = parse_condition(source)
    except ConditionSyntaxError as error:
        raise RuleError(owner, field_name, f"at {error.position}: {error.reason}") from None
    for path in condition.paths:
        _check_path(owner, field_name, path)
    return condition


def _check_path(owner: str, field_name: str, path: tuple[str, ...]) -> None:
    root = path[0]
    if root not in CONTEXT_FIELDS:
        known = ", ".join(sorted(CONTEXT_FIELDS))
        raise RuleError(owner, field_name, f"unknown name {root!r} (known: {known})")
    allowed = CONTEXT_FIELDS[root]
    if allowed is not None and len(path) > 1 and path[1] not in allowed:
        raise RuleError(owner, field_name, f"{root} has no field {path[1]!r}")


def _check_event_fields(
    owner: str, triggers: Sequence[str], paths: Sequence[tuple[str, ...]]
) -> None:
    """`event.<field>` must be a field of an event the rule is triggered by (`name` and
    `properties` for custom events): a misspelt field would read as missing at every turn
    and the rule silently never fire. Rules woken by reminders are left alone."""
    if any(t.startswith(REMINDER_PREFIX) for t in triggers):
        return
    fields = {name for t in triggers for name in EVENT_MODELS[t].model_fields}
    for path in paths:
        if path[0] == "event" and len(path) > 1 and path[1] not in fields:
            known = ", ".join(sorted(fields - {"schema_version"}))
            raise RuleError(
                owner,
                "when / action",
                f"event has no field {path[1]!r} for triggers {', '.join(triggers)} "
                f"(fields: {known})",
            )


def _models_used(paths: list[tuple[str, ...]], action: ActionSpec) -> frozenset[str]:
    models: set[str] = set()
    for path in paths:
        if path[0] == "scores" and len(path) > 1:
            models.add(RECOMMENDER if path[1] in RECOMMENDER_FIELDS else path[1])
        if path[0] == "offer":
            models.add(RECOMMENDER)
    if action.type in ("offer", "welcome_back"):
        models.add(RECOMMENDER)
    return frozenset(models)


def _compile_segment(name: str, source: str) -> Segment:
    owner = f"segment:{name}"
    try:
        condition = parse_condition(source)
    except ConditionSyntaxError as error:
        raise RuleError(owner, "condition", f"at {error.position}: {error.reason}") from None
    for path in condition.paths:
        if path[0] not in SEGMENT_ROOTS:
            known = ", ".join(sorted(SEGMENT_ROOTS))
            reason = f"a segment reads the customer's state ({known}), not {path[0]!r}"
            raise RuleError(owner, "condition", reason)
        _check_path(owner, "condition", path)
    return Segment(name, condition)


def _check_segments_used(
    owner: str, field_name: str, condition: Condition | None, names: frozenset[str]
) -> None:
    for path in condition.paths if condition else ():
        if path[0] == "segment" and (len(path) < 2 or path[1] not in names):
            known = ", ".join(sorted(names)) or "none defined"
            named = path[1] if len(path) > 1 else ""
            raise RuleError(owner, field_name, f"no segment named {named!r} (segments: {known})")


def compile_rules(spec: RulesFile, source: str = "<memory>") -> RuleSet:
    faults: list[RuleError] = []
    segments = []
    for name, condition_source in spec.segments.items():
        try:
            segments.append(_compile_segment(name, condition_source))
        except RuleError as fault:
            faults.append(fault)
    segment_names = frozenset(spec.segments)
    reminder_kinds = {r.kind for r in spec.reminders}
    if len(reminder_kinds) != len(spec.reminders):
        raise RuleError("<reminders>", "kind", "reminder kinds must be unique")
    reminders = tuple(
        Reminder(r, _compile_condition(f"reminder:{r.kind}", "when", r.when))
        for r in spec.reminders
    )
    for reminder in reminders:
        try:
            _check_segments_used(
                f"reminder:{reminder.spec.kind}", "when", reminder.condition, segment_names
            )
        except RuleError as fault:
            faults.append(fault)
    seen: set[str] = set()
    rules = []
    for rule_spec in spec.rules:
        if rule_spec.id in seen:
            faults.append(RuleError(rule_spec.id, "id", "duplicate rule id"))
            continue
        seen.add(rule_spec.id)
        try:
            rule = _compile_rule(rule_spec, reminder_kinds)
            _check_segments_used(rule.id, "when", rule.condition, segment_names)
            rules.append(rule)
        except RuleError as fault:  # every rule is checked: the author sees all faults
            faults.append(fault)
    if faults:
        raise RulesRefusedError(faults)
    return RuleSet(tuple(rules), reminders, spec.policy, source, tuple(segments))


def _compile_rule(rule_spec: RuleSpec, reminder_kinds: set[str]) -> Rule:
    for trigger in rule_spec.triggers:
        if trigger.startswith(REMINDER_PREFIX):
            if trigger.removeprefix(REMINDER_PREFIX) not in reminder_kinds:
                raise RuleError(rule_spec.id, "triggers", f"no reminder named {trigger!r}")
        elif trigger not in EVENT_TYPES:
            raise RuleError(rule_spec.id, "triggers", f"unknown event type {trigger!r}")
    if (rule_spec.action.type == "fraud_alert") != (rule_spec.kind == "fraud"):
        raise RuleError(rule_spec.id, "kind", "fraud_alert actions and kind fraud go together")
    if rule_spec.action.type == "fraud_alert" and rule_spec.triggers != ("card_payment",):
        raise RuleError(rule_spec.id, "triggers", "fraud_alert rules trigger on card_payment")
    condition = _compile_condition(rule_spec.id, "when", rule_spec.when)
    paths = list(condition.paths) if condition else []
    texts = [rule_spec.action.template or ""]
    texts += [v for v in rule_spec.action.payload.values() if isinstance(v, str)]
    for text in texts:
        for name in template_fields(text):
            template_path = tuple(name.split("."))
            _check_path(rule_spec.id, "action.template", template_path)
            paths.append(template_path)
    _check_event_fields(rule_spec.id, rule_spec.triggers, paths)
    return Rule(rule_spec, condition, _models_used(paths, rule_spec.action))


def _rule_errors_from(error: ValidationError, data: Mapping[str, Any]) -> RulesRefusedError:
    return RulesRefusedError(
        [_rule_error_from(item, data) for item in error.errors(include_url=False)]
    )


def _rule_error_from(item: Any, data: Mapping[str, Any]) -> RuleError:
    loc = list(item["loc"])
    owner = "<file>"
    if len(loc) >= 2 and loc[0] == "segments":
        owner, loc = f"segment:{loc[1]}", loc[2:] or ["condition"]
    elif len(loc) >= 2 and loc[0] in ("rules", "reminders") and isinstance(loc[1], int):
        entries = data.get(loc[0]) or []
        entry = entries[loc[1]] if loc[1] < len(entries) else {}
        name = entry.get("id") or entry.get("kind") if isinstance(entry, dict) else None
        owner = str(name) if name else f"{loc[0]}[{loc[1]}]"
        loc = loc[2:]
    return RuleError(owner, ".".join(str(p) for p in loc) or "<entry>", item["msg"])


def parse_rules(text: str, source: str = "<memory>") -> RuleSet:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RuleError("<file>", "<yaml>", str(error).replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise RuleError("<file>", "<root>", "a rules file is a mapping with a 'rules' list")
    try:
        spec = RulesFile.model_validate(data)
    except ValidationError as error:
        raise _rule_errors_from(error, data) from None
    return compile_rules(spec, source)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Rules from `path`, or the shipped defaults."""
    if path is None:
        text = resources.files("actors.rules").joinpath("rulesets/default.yaml").read_text()
        return parse_rules(text, "default")
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise RuleError("<file>", str(file), error.strerror or "cannot read") from None
    return parse_rules(text, str(file))


__all__ = ["ACTION_TYPES", "Reminder", "Rule", "RuleSet", "Segment", "load_rules", "parse_rules"]
