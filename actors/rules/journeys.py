"""Journeys: campaigns of several steps a customer walks through over minutes or days.

    journeys:
      - id: cart_recovery
        entry: {events: [cart_add], when: "cart.items > 0"}
        exit_on: [purchase]              # at any point: the run ends at once
        steps:
          - {id: settle, wait: 30m}
          - id: email
            send: {type: cart_reminder, channel: email, template: "Your cart is waiting"}
          - {id: a_day, wait: 1d, until: {product_view: browsing}}   # an event cuts it short
          - id: push_offer
            send: {type: offer, channel: push, template: "10% off {offer.title}"}
          - exit: true
            id: done
          - id: browsing
            branch: [{when: "cart.value > 100", goto: push_offer}]
            goto: done

A step is one of: `wait` (a duration; the run sleeps on the customer's durable reminder
`journey.<id>`, and `until` maps events that end the wait early to the step they lead to),
`send` (an action built and guarded as a rule's, kind marketing unless said), `branch`
(the first arm whose condition holds, else `goto` or the next step) and `exit`. After a
send or a branch the run goes to `goto`, else to the step below; past the last step it is
complete. A customer is in at most one run of a journey; the journey's `entry` events
start one only when none is running. (`on` would read as a boolean in YAML: hence
`events` and `until`.) The file is refused if a step names a step that does
not exist or if steps can loop without a wait (a run must never spin inside one turn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator, model_validator

from actors.errors import RuleError
from actors.model.events import EVENT_TYPES
from actors.rules.checks import (
    check_event_fields,
    check_path,
    check_segments_used,
    compile_condition,
    models_used,
)
from actors.rules.conditions import Condition
from actors.rules.durations import Duration
from actors.rules.specs import ActionSpec, Rule, RuleSpec, Spec
from actors.rules.templates import template_fields

JOURNEY_REMINDER_PREFIX = "journey."
NAME = r"^[a-z][a-z0-9_]*$"


def _known_events(names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        if name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {name!r}")


class SendSpec(ActionSpec):
    kind: Literal["marketing", "service"] = "marketing"


class BranchSpec(Spec):
    when: str
    goto: str


class StepSpec(Spec):
    id: str = Field(pattern=NAME)
    wait: Duration | None = None
    until: dict[str, str] = Field(default_factory=dict)
    send: SendSpec | None = None
    branch: tuple[BranchSpec, ...] = ()
    exit: bool = False
    goto: str | None = None

    @field_validator("until")
    @classmethod
    def _until_events(cls, value: dict[str, str]) -> dict[str, str]:
        _known_events(list(value))
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        kinds = [self.wait is not None, self.send is not None, bool(self.branch), self.exit]
        if sum(kinds) != 1:
            raise ValueError("a step is exactly one of wait, send, branch or exit")
        if self.until and self.wait is None:
            raise ValueError("`until` belongs to a wait step")
        if self.goto is not None and (self.wait is not None or self.exit):
            raise ValueError("`goto` follows a send or a branch")
        return self


class EntrySpec(Spec):
    events: tuple[str, ...] = Field(min_length=1)
    when: str | None = None

    @field_validator("events")
    @classmethod
    def _on_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _known_events(value)
        return value


class JourneySpec(Spec):
    id: str = Field(pattern=NAME)
    description: str = ""
    entry: EntrySpec
    exit_on: tuple[str, ...] = ()
    # Holdouts, caps and outcome reports count the journey's sends under this campaign.
    campaign: str | None = None
    enabled: bool = True
    steps: tuple[StepSpec, ...] = Field(min_length=1)

    @field_validator("exit_on")
    @classmethod
    def _exit_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _known_events(value)
        return value


@dataclass(frozen=True, slots=True)
class Step:
    spec: StepSpec
    # Where the run goes after this step (None: it ends), and where each arm / event leads.
    next: int | None
    branches: tuple[tuple[Condition, int], ...] = ()
    until: dict[str, int] = field(default_factory=dict)
    # A send step's action, as a rule with id `<journey>.<step>` would build it.
    rule: Rule | None = None

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True)
class Journey:
    spec: JourneySpec
    entry: Condition | None
    steps: tuple[Step, ...]
    index: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def reminder_kind(self) -> str:
        """The durable reminder a run's waits sleep on (one per journey and customer)."""
        return JOURNEY_REMINDER_PREFIX + self.spec.id

    def step(self, step_id: str) -> int | None:
        return self.index.get(step_id)


def compile_journey(spec: JourneySpec, segments: frozenset[str]) -> Journey:
    """The journey ready to run; RuleError naming the journey and step at fault."""
    owner = f"journey:{spec.id}"
    ids = [step.id for step in spec.steps]
    if len(set(ids)) != len(ids):
        raise RuleError(owner, "steps", "step ids must be unique")
    index = {step_id: i for i, step_id in enumerate(ids)}

    def target(step: StepSpec, name: str) -> int:
        if name not in index:
            raise RuleError(owner, f"steps.{step.id}", f"no step named {name!r}")
        return index[name]

    entry = compile_condition(owner, "entry.when", spec.entry.when)
    check_segments_used(owner, "entry.when", entry, segments)
    check_event_fields(owner, spec.entry.events, list(entry.paths) if entry else [])
    steps = []
    for i, step in enumerate(spec.steps):
        following = i + 1 if i + 1 < len(spec.steps) else None
        after = target(step, step.goto) if step.goto is not None else following
        branches = []
        for arm in step.branch:
            condition = compile_condition(owner, f"steps.{step.id}.branch", arm.when)
            assert condition is not None
            check_segments_used(owner, f"steps.{step.id}.branch", condition, segments)
            branches.append((condition, target(step, arm.goto)))
        until = {event: target(step, name) for event, name in step.until.items()}
        rule = _send_rule(spec, step, owner) if step.send is not None else None
        steps.append(Step(step, None if step.exit else after, tuple(branches), until, rule))
    _refuse_loops_without_a_wait(owner, steps)
    return Journey(spec, entry, tuple(steps), index)


def _send_rule(spec: JourneySpec, step: StepSpec, owner: str) -> Rule:
    send = step.send
    assert send is not None
    if send.type == "fraud_alert":
        raise RuleError(owner, f"steps.{step.id}.send", "fraud alerts come from fraud rules")
    action = ActionSpec(
        type=send.type,
        channel=send.channel,
        sink=send.sink,
        campaign=send.campaign or spec.campaign or spec.id,
        template=send.template,
        payload=send.payload,
    )
    paths: list[tuple[str, ...]] = []
    texts = [send.template or ""] + [v for v in send.payload.values() if isinstance(v, str)]
    for text in texts:
        for name in template_fields(text):
            path = tuple(name.split("."))
            check_path(owner, f"steps.{step.id}.send.template", path)
            paths.append(path)
    # Built unvalidated: its id (`journey.step`) is outside the rule id pattern on
    # purpose, so that a journey's sends never share a rule's id.
    rule_spec = RuleSpec.model_construct(
        id=f"{spec.id}.{step.id}",
        description=spec.description,
        kind=send.kind,
        triggers=(),
        when=None,
        priority=0,
        cooldown=None,
        once_per=None,
        enabled=True,
        action=action,
    )
    return Rule(rule_spec, None, models_used(paths, action))


def _refuse_loops_without_a_wait(owner: str, steps: list[Step]) -> None:
    """Every cycle of steps passes a wait: a run advances through steps in one turn until
    it waits, exits or completes, so a loop of sends and branches would never end."""

    def moves(step: Step) -> list[int]:
        out = [index for _, index in step.branches]
        return out + ([step.next] if step.next is not None else [])

    for start in range(len(steps)):
        seen: set[int] = set()
        todo = [start]
        while todo:
            current = todo.pop()
            if steps[current].spec.wait is not None:
                continue
            for nxt in moves(steps[current]):
                if nxt == start:
                    reason = f"steps from {steps[start].id!r} loop back to it without a wait"
                    raise RuleError(owner, "steps", reason)
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
