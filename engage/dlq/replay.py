"""Dead letters chosen and replayed, each at most once.

An events dead letter goes back onto the events stream byte for byte with its key (ingest
validates it again: one whose cause was fixed is applied, one still invalid is
dead-lettered again, with the `replay-of` header naming the first). An actions dead
letter goes back into its customer's outbox under a key of its own
(engage.dlq.outbox). Each record is claimed in the replay marks first and marked replayed
once its copy is stored: a record marked replayed is never put back again, and a claim
left by a replay that died is finished by the next without doubling anything
(engage.dlq.marks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from actors.brokers.dead_letter_log import DeadLetter, DeadLetterLog
from actors.model.actions import action_from_json
from engage.dlq.marks import Mark, Marks
from engage.dlq.outbox import Outbox, replayed

Verdict = Literal["replayed", "would replay", "skipped"]


@dataclass(frozen=True)
class Choice:
    """Which dead letters: all of them, or those matching every given filter."""

    ids: frozenset[str] = frozenset()
    reason: str | None = None  # a part of the reason, any case
    since: float | None = None  # failed at or after (epoch seconds)
    until: float | None = None  # failed before
    customer: str | None = None

    def picks(self, letter: DeadLetter) -> bool:
        failed_at = letter.failed_at
        return (
            (not self.ids or letter.id in self.ids)
            and (self.reason is None or self.reason.lower() in letter.reason.lower())
            and (self.since is None or (failed_at is not None and failed_at >= self.since))
            and (self.until is None or (failed_at is not None and failed_at < self.until))
            and (self.customer is None or letter.customer == self.customer)
        )


def name_of(log: DeadLetterLog, letter: DeadLetter) -> str:
    """The record's name in the marks: unique across kinds and brokers' topics."""
    return f"{log.where}/{letter.id}"


def chosen(log: DeadLetterLog, choice: Choice, limit: int, scan: int) -> list[DeadLetter]:
    """The first `limit` dead letters `choice` picks, of the oldest `scan` kept."""
    return [letter for letter in log.read(scan) if choice.picks(letter)][:limit]


def marks_of(log: DeadLetterLog, marks: Marks, letters: Iterable[DeadLetter]) -> dict[str, Mark]:
    """Each letter's mark by its id (only those that have one)."""
    by_name = {name_of(log, letter): letter.id for letter in letters}
    return {by_name[name]: mark for name, mark in marks.of(list(by_name)).items()}


@dataclass(frozen=True)
class Outcome:
    letter: DeadLetter
    verdict: Verdict
    detail: str


class Replayer:
    def __init__(self, log: DeadLetterLog, marks: Marks, outbox: Outbox) -> None:
        self.log = log
        self.marks = marks
        self.outbox = outbox

    def replay(
        self,
        letters: Sequence[DeadLetter],
        dry_run: bool = False,
        told: Callable[[Outcome], None] = lambda outcome: None,
    ) -> list[Outcome]:
        """Each letter replayed (or, with `dry_run`, judged), in order, each outcome told
        as it is known. An outage (the broker, Redis) raises and ends the run: what was
        replayed before it stays replayed, and the record it failed on is finished by
        the next run."""
        outcomes = []
        for letter in letters:
            outcome = self._one(letter, dry_run)
            told(outcome)
            outcomes.append(outcome)
        return outcomes

    def _one(self, letter: DeadLetter, dry_run: bool) -> Outcome:
        name = name_of(self.log, letter)
        known = self.marks.of([name]).get(name)
        if known is not None and known.state == "replayed":
            return Outcome(letter, "skipped", f"replayed already at {when(known.at)}")
        refusal = self._refusal(letter)
        if refusal is not None:
            return Outcome(letter, "skipped", refusal)
        if dry_run:
            return Outcome(letter, "would replay", f"into {self._target(letter)}")
        claim = self.marks.claim(name)
        if claim is not None and claim.state == "replayed":  # another replay got there first
            return Outcome(letter, "skipped", f"replayed already at {when(claim.at)}")
        if letter.kind == "events":
            self.log.republish_event(letter)
        else:
            self.outbox.put(replayed(action_from_json(letter.value)))
        self.marks.replayed(name)
        again = " (finishing a replay that was cut short)" if claim is not None else ""
        return Outcome(letter, "replayed", f"into {self._target(letter)}{again}")

    def _refusal(self, letter: DeadLetter) -> str | None:
        """Why this dead letter cannot be replayed, if it cannot."""
        if letter.truncated:
            return "cut to fit the dead-letter topic: the original is not kept whole"
        if letter.kind == "events":
            return None
        try:
            action = action_from_json(letter.value)
        except (ValidationError, ValueError):
            return (
                "not an action: a rule's action that could not be built (fix the rule or "
                "template; the customer's next turn builds it afresh)"
            )
        if not self.outbox.known(action.customer_id):
            return f"customer {action.customer_id} is no longer kept (forgotten or expired)"
        return None

    def _target(self, letter: DeadLetter) -> str:
        if letter.kind == "events":
            return "the events stream"
        return f"the outbox of {letter.customer}"


def when(at: float | None) -> str:
    """An instant as the dlq commands print it (UTC, to the second); "-" if unknown."""
    return "-" if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
