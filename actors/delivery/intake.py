"""Step 1 of the dispatcher, for a batch taken from its intake: what is finished already,
what must be dead-lettered unread, what to look up at its sink first, and what goes on
to the guardrails. A pure sort: the dispatcher does the writes it implies."""

from __future__ import annotations

from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from actors.delivery.letters import REJECTED_PREFIX
from actors.model.actions import Action, action_from_json
from actors.storage.store import OutboxEntry

Batch = list[tuple[OutboxEntry, Action]]


@dataclass
class Sorted:
    # Finished before (delivered or dead-lettered, and marked so, or delivered here and
    # not yet marked): only the clear of the outbox may be owed.
    done: list[OutboxEntry] = field(default_factory=list)
    # Entries to dead-letter, with the reason: a rule's rejection, or not an action.
    letters: list[tuple[OutboxEntry, str]] = field(default_factory=list)
    # Delivered here, not yet marked sent: to be marked now.
    remembered: list[Action] = field(default_factory=list)
    # Delivery may have begun (by a process that died, or a send without an answer):
    # asked at the sink first.
    lookups: Batch = field(default_factory=list)
    # For the guardrails, then a lane.
    judge: Batch = field(default_factory=list)
    duplicates: int = 0


def sort_batch(
    batch: Sequence[OutboxEntry],
    sent: Container[str],
    buried: Container[str],
    unmarked: Container[str],
    sinks: Collection[str],
) -> Sorted:
    """`sent`: keys marked sent; `buried`: keys dead-lettered here and not yet cleared;
    `unmarked`: keys delivered here and not yet marked; `sinks`: the sinks configured."""
    out = Sorted()
    for entry in batch:
        if entry.key in sent or entry.key in buried:
            out.duplicates += 1
            out.done.append(entry)
            continue
        if entry.key.startswith(REJECTED_PREFIX):
            reason = orjson.loads(entry.action).get("reason", "rejected by its rule")
            out.letters.append((entry, reason))
            continue
        try:
            action = action_from_json(entry.action)
        except ValidationError as error:
            out.letters.append((entry, f"invalid action: {error}"))
            continue
        if action.idempotency_key in unmarked:
            out.remembered.append(action)
            out.duplicates += 1
            out.done.append(entry)
        elif entry.attempted_at is not None and action.sink in sinks:
            out.lookups.append((entry, action))
        else:
            out.judge.append((entry, action))
    return out
