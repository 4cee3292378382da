"""Rules as data: what a customer actor does when an event or a reminder arrives.

A rules file (YAML) is validated in full before it is used: every condition is parsed,
every field a condition or template reads is checked against what the turn provides, and
any fault is reported as `RuleError(rule, field, reason)`. A file that fails validation
never replaces the rules in force.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from actors.errors import RuleError, RulesRefusedError
from actors.model.actions import ACTION_TYPES
from actors.model.events import EVENT_TYPES
from actors.model.model_names import is_own_model
from actors.rules.checks import (
    CONTEXT_FIELDS,
    REMINDER_PREFIX,
    SEGMENT_NAME,
    check_event_fields,
    check_path,
    check_segments_used,
    compile_condition,
    compile_segment,
    models_used,
)
from actors.rules.conditions import Condition
from actors.rules.emails import EmailTemplate, EmailTemplateSpec, compile_template
from actors.rules.journeys import Journey, JourneySpec, compile_journey
from actors.rules.segments import Segment
from actors.rules.specs import (
    ActionSpec,
    CapSpec,
    PolicySpec,
    QuietHoursSpec,
    ReminderSpec,
    Rule,
    RuleSpec,
    Spec,
)
from actors.rules.templates import template_fields


class RulesFile(Spec):
    version: Literal[1] = 1
    policy: PolicySpec = PolicySpec()
    # Audiences: name -> condition over the customer's state (`segment.<name>` in rules).
    segments: dict[str, str] = Field(default_factory=dict)
    reminders: tuple[ReminderSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    journeys: tuple[JourneySpec, ...] = ()
    # E-mail templates by rule id, campaign or action type (actors.rules.emails).
    emails: dict[str, EmailTemplateSpec] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(SEGMENT_NAME, name):
                raise ValueError(f"segment name {name!r}: lower case letters, digits and _")
        return value


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
    journeys: tuple[Journey, ...] = ()
    emails: Mapping[str, EmailTemplate] = field(default_factory=dict)
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

    @cached_property
    def journey_events(self) -> frozenset[str]:
        """The event types any journey reacts to (entry, exit, a wait cut short): a turn
        for any other event leaves every journey alone."""
        found: set[str] = set()
        for journey in self.journeys:
            found |= set(journey.spec.entry.events) | set(journey.spec.exit_on)
            for step in journey.steps:
                found |= set(step.until)
        return frozenset(found)

    @cached_property
    def own_models(self) -> dict[str, tuple[str, ...]]:
        """The team's own models the rules read (`scores.<name>`), each with the rules and
        journeys that read it."""
        readers: dict[str, list[str]] = {}
        sends = [s.rule for j in self.journeys for s in j.steps if s.rule is not None]
        for rule in [*self.rules, *sends]:
            for name in sorted(rule.models):
                if is_own_model(name):
                    readers.setdefault(name, []).append(rule.id)
        return {name: tuple(owners) for name, owners in sorted(readers.items())}

    def for_trigger(self, trigger: str) -> tuple[Rule, ...]:
        return self.by_trigger.get(trigger, ())

    def models_for(self, trigger: str) -> frozenset[str]:
        return self.models_by_trigger.get(trigger, frozenset())

    def reminders_set_by(self, event_type: str) -> list[Reminder]:
        return [r for r in self.reminders if event_type in r.spec.set_on]

    def reminders_cancelled_by(self, event_type: str) -> list[Reminder]:
        return [r for r in self.reminders if event_type in r.spec.cancel_on]


def compile_rules(
    spec: RulesFile, source: str = "<memory>", registered: Collection[str] | None = None
) -> RuleSet:
    """The compiled rules, or RulesRefusedError naming every fault. With `registered` (the
    model names the registry holds), a rule reading a model of one's own not among them is
    a fault; without, such names are taken on trust (a file checked offline, a version the
    store checked when it was pushed)."""
    faults: list[RuleError] = []
    segments = []
    for name, condition_source in spec.segments.items():
        try:
            segments.append(compile_segment(name, condition_source))
        except RuleError as fault:
            faults.append(fault)
    segment_names = frozenset(spec.segments)
    reminder_kinds = {r.kind for r in spec.reminders}
    if len(reminder_kinds) != len(spec.reminders):
        raise RuleError("<reminders>", "kind", "reminder kinds must be unique")
    reminders = tuple(
        Reminder(r, compile_condition(f"reminder:{r.kind}", "when", r.when)) for r in spec.reminders
    )
    for reminder in reminders:
        try:
            check_segments_used(
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
            check_segments_used(rule.id, "when", rule.condition, segment_names)
            rules.append(rule)
        except RuleError as fault:  # every rule is checked: the author sees all faults
            faults.append(fault)
            continue
        if registered is not None:
            faults += unknown_models(rule, registered)
    journeys: list[Journey] = []
    for journey_spec in spec.journeys:
        if journey_spec.id in {j.id for j in journeys}:
            faults.append(RuleError(f"journey:{journey_spec.id}", "id", "duplicate journey id"))
            continue
        try:
            journey = compile_journey(journey_spec, segment_names)
        except RuleError as fault:
            faults.append(fault)
            continue
        if journey_spec.enabled:
            journeys.append(journey)
        if registered is not None:
            sends = [step.rule for step in journey.steps if step.rule is not None]
            faults += [fault for rule in sends for fault in unknown_models(rule, registered)]
    emails: dict[str, EmailTemplate] = {}
    for name, template in spec.emails.items():
        try:
            emails[name] = compile_template(name, template)
        except RuleError as fault:
            faults.append(fault)
    if faults:
        raise RulesRefusedError(faults)
    return RuleSet(
        tuple(rules), reminders, spec.policy, source, tuple(segments), tuple(journeys), emails
    )


def unknown_models(rule: Rule, registered: Collection[str]) -> list[RuleError]:
    """A fault for each `scores.<name>` the rule reads of a model the registry does not
    know: a misspelt name would read as missing at every turn and the rule silently never
    fire. A registered model without a champion yet is known: its score is missing until
    one is served, and the rule holds until then."""
    faults = []
    for name in sorted(n for n in rule.models if is_own_model(n) and n not in registered):
        read = {p[:2] for p in rule.condition.paths} if rule.condition else set()
        field_name = "when" if ("scores", name) in read else "action.template"
        reason = f"scores.{name}: no model named {name!r} is registered (engage models register)"
        faults.append(RuleError(rule.id, field_name, reason))
    return faults


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
    condition = compile_condition(rule_spec.id, "when", rule_spec.when)
    paths = list(condition.paths) if condition else []
    texts = [rule_spec.action.template or ""]
    texts += [v for v in rule_spec.action.payload.values() if isinstance(v, str)]
    for text in texts:
        for name in template_fields(text):
            template_path = tuple(name.split("."))
            check_path(rule_spec.id, "action.template", template_path)
            paths.append(template_path)
    check_event_fields(rule_spec.id, rule_spec.triggers, paths)
    return Rule(rule_spec, condition, models_used(paths, rule_spec.action))


def _rule_errors_from(error: ValidationError, data: Mapping[str, Any]) -> RulesRefusedError:
    return RulesRefusedError(
        [_rule_error_from(item, data) for item in error.errors(include_url=False)]
    )


def _rule_error_from(item: Any, data: Mapping[str, Any]) -> RuleError:
    loc = list(item["loc"])
    owner = "<file>"
    if len(loc) >= 2 and loc[0] == "segments":
        owner, loc = f"segment:{loc[1]}", loc[2:] or ["condition"]
    elif len(loc) >= 2 and loc[0] == "journeys" and isinstance(loc[1], int):
        entries = data.get("journeys") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else {}
        name = entry.get("id") if isinstance(entry, dict) else None
        owner = f"journey:{name}" if name else f"journeys[{loc[1]}]"
        loc = _step_named(loc[2:], entry)
    elif len(loc) >= 2 and loc[0] in ("rules", "reminders") and isinstance(loc[1], int):
        entries = data.get(loc[0]) or []
        entry = entries[loc[1]] if loc[1] < len(entries) else {}
        name = entry.get("id") or entry.get("kind") if isinstance(entry, dict) else None
        owner = str(name) if name else f"{loc[0]}[{loc[1]}]"
        loc = loc[2:]
    return RuleError(owner, ".".join(str(p) for p in loc) or "<entry>", item["msg"])


def _step_named(loc: list[Any], journey: Any) -> list[Any]:
    """`steps.2.send.channel` as `steps.email.send.channel`: the step by its id."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = journey.get("steps") if isinstance(journey, dict) else None
        step = steps[loc[1]] if isinstance(steps, list) and loc[1] < len(steps) else None
        if isinstance(step, dict) and step.get("id"):
            return ["steps", step["id"], *loc[2:]]
    return loc


def parse_rules(
    text: str, source: str = "<memory>", registered: Collection[str] | None = None
) -> RuleSet:
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
    return compile_rules(spec, source, registered)


def load_rules(
    path: str | Path | None = None, registered: Collection[str] | None = None
) -> RuleSet:
    """Rules from `path`, or the shipped defaults."""
    if path is None:
        text = resources.files("actors.rules").joinpath("rulesets/default.yaml").read_text()
        return parse_rules(text, "default", registered)
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise RuleError("<file>", str(file), error.strerror or "cannot read") from None
    return parse_rules(text, str(file), registered)


__all__ = [
    "ACTION_TYPES",
    "CONTEXT_FIELDS",
    "REMINDER_PREFIX",
    "ActionSpec",
    "CapSpec",
    "Journey",
    "PolicySpec",
    "QuietHoursSpec",
    "Reminder",
    "ReminderSpec",
    "Rule",
    "RuleSet",
    "RuleSpec",
    "Segment",
    "load_rules",
    "parse_rules",
    "unknown_models",
]
