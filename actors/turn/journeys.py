"""Journeys in a customer's turns: entering, waiting, sending, branching, leaving.

A run lives in the customer's state (`journeys`: the step it waits at, the run's id, when
it began) and sleeps on the customer's durable reminder `journey.<id>` while it waits, so
a run survives restarts, slot moves and lost nodes as reminders do: the step it reached
and the wake-up are saved in the commit that saves the rest of the turn, and each send's
idempotency key is the customer, `<journey>.<step>` and the turn's trigger, the same on
every replay. Within one turn a run goes step by step until it waits, exits or ends
(the rules file is refused if steps could loop without a wait).

Counters go into the slot's outcome counters in the same commit: `journey|<id>|step|<step>`
each time a run reaches a step, `journey|<id>|run|<how>` for runs started and ended
(completed, exited at an exit step, ended by an `exit_on` event, or retired because the
rules in force no longer have the journey or the step it waited at).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from actors.model.actions import Action
from actors.model.state import CustomerState
from actors.outcomes.journey_report import counter_name
from actors.rules.context import LazyContext
from actors.rules.journeys import JOURNEY_REMINDER_PREFIX, Journey
from actors.rules.specs import Rule
from actors.turn.outcome import RejectedAction, TurnOutcome

# A send step's result: the action, the action a template could not build, or why the
# step sent nothing (marketing blocked by consent or a fraud alert).
Sent = Action | RejectedAction | str
SendStep = Callable[[Rule, LazyContext], Awaitable[Sent]]


@dataclass
class JourneyTurn:
    """One turn, as journeys see it."""

    state: CustomerState
    trigger: str
    trigger_id: str
    at: float
    # Wall clock: a wait of 30 minutes wakes 30 minutes from now, as reminders do.
    now: float
    context: LazyContext
    outcome: TurnOutcome
    send: SendStep
    trace: bool

    def note(self, key: str, verdict: str) -> None:
        if not self.trace:
            return
        if self.outcome.trace is None:
            self.outcome.trace = {
                "at": self.at,
                "trigger": self.trigger,
                "trigger_id": self.trigger_id,
                "rules": {},
            }
        rules: dict[str, Any] = self.outcome.trace["rules"]
        rules[f"journey:{key}"] = verdict


async def on_event(journeys: tuple[Journey, ...], turn: JourneyTurn, event_type: str) -> None:
    """An event's effect on each journey: it may end a run, cut a wait short, or start one."""
    for journey in journeys:
        run = (turn.state.journeys or {}).get(journey.id)
        if run is not None and event_type in journey.spec.exit_on:
            _end(journey, turn, "exit_event", f"ended by {event_type}")
            run = None  # the same event may start the next run, as an entry event
        elif run is not None:
            index = journey.step(run[0])
            if index is None:
                _end(journey, turn, "retired", f"step {run[0]!r} is no longer in the journey")
                continue
            jump = journey.steps[index].until.get(event_type)
            if jump is not None:
                turn.outcome.reminders_cancelled.append(journey.reminder_kind)
                turn.note(f"{journey.id}.{run[0]}", f"wait cut short by {event_type}")
                await _advance(journey, turn, jump, run[1], run[2])
            continue
        if event_type in journey.spec.entry.events and (
            journey.entry is None or journey.entry.evaluate(turn.context)
        ):
            turn.outcome.counters.append(counter_name(journey.id, "run", "started"))
            turn.note(journey.id, f"entered on {event_type}")
            await _advance(journey, turn, 0, turn.trigger_id, turn.at)


async def on_wake(journeys: tuple[Journey, ...], turn: JourneyTurn, kind: str) -> None:
    """A run's wait is over: on to the step after it."""
    journey_id = kind.removeprefix(JOURNEY_REMINDER_PREFIX)
    journey = next((j for j in journeys if j.id == journey_id), None)
    run = (turn.state.journeys or {}).get(journey_id)
    if run is None:
        return  # ended meanwhile (an exit event came first)
    index = journey.step(run[0]) if journey is not None else None
    if journey is None or index is None or journey.steps[index].spec.wait is None:
        turn.state.journeys = _without(turn.state.journeys, journey_id)
        turn.outcome.counters.append(counter_name(journey_id, "run", "retired"))
        turn.note(journey_id, "retired: the rules in force no longer have where it waited")
        return
    await _advance(journey, turn, journey.steps[index].next, run[1], run[2])


async def _advance(
    journey: Journey, turn: JourneyTurn, index: int | None, run_id: str, began: float
) -> None:
    for _ in range(len(journey.steps) + 1):
        if index is None:
            _end(journey, turn, "completed", "completed")
            return
        step = journey.steps[index]
        spec = step.spec
        turn.outcome.counters.append(counter_name(journey.id, "step", step.id))
        key = f"{journey.id}.{step.id}"
        if spec.wait is not None:
            runs = dict(turn.state.journeys or {})
            runs[journey.id] = (step.id, run_id, began)
            turn.state.journeys = runs
            turn.outcome.reminders_set.append((journey.reminder_kind, turn.now + spec.wait))
            turn.note(key, f"waiting {spec.wait:g}s")
            return
        if spec.exit:
            _end(journey, turn, "exited", f"exited at {step.id}")
            return
        if step.rule is not None:
            sent = await turn.send(step.rule, turn.context)
            if isinstance(sent, str):
                turn.note(key, sent)
            elif isinstance(sent, RejectedAction):
                turn.outcome.rejected.append(sent)
                turn.note(key, f"action refused: {sent.reason}")
            else:
                turn.outcome.actions.append(sent)
                turn.note(key, f"fired: {sent.type} {sent.action_id}")
            index = step.next
            continue
        taken = next(
            (to for condition, to in step.branches if condition.evaluate(turn.context)), None
        )
        turn.note(key, "took an arm" if taken is not None else "no arm held")
        index = taken if taken is not None else step.next
    raise AssertionError(f"journey {journey.id}: steps looped without a wait")


def _end(journey: Journey, turn: JourneyTurn, how: str, why: str) -> None:
    turn.state.journeys = _without(turn.state.journeys, journey.id)
    # A wake-up still set would find no run; removed with the run, in the same commit.
    turn.outcome.reminders_cancelled.append(journey.reminder_kind)
    turn.outcome.counters.append(counter_name(journey.id, "run", how))
    turn.note(f"{journey.id} (end)", why)


def _without(
    runs: dict[str, tuple[str, str, float]] | None, journey_id: str
) -> dict[str, tuple[str, str, float]] | None:
    left = {k: v for k, v in (runs or {}).items() if k != journey_id}
    return left or None
