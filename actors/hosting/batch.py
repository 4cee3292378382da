"""One batch on a shard host: what it tells ingest (`BatchResult`), each customer's part of
it while its turns run (`CustomerWork`), and the commit that saves a customer's turns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from actors.delivery.letters import rejection_entry
from actors.model.actions import action_to_json
from actors.model.dedup import NO_POSITION, Arrival
from actors.model.events import Event
from actors.model.identity import MergeSource
from actors.model.state import CustomerState
from actors.model.state_format import state_to_json
from actors.storage.store import Commit
from actors.turn.outcome import RejectedAction, TurnOutcome

# Rounds in which a commit may meet a conflict (another host wrote one of the customers)
# before the batch gives up with ContentionError.
MAX_CONFLICT_RETRIES = 5


@dataclass
class BatchResult:
    """What a shard tells ingest about one batch."""

    processed: int = 0
    duplicates: int = 0
    # Events of forgotten actors, not applied (their tombstone lasts).
    suppressed: int = 0
    actions: int = 0
    # (index in the batch, reason): events that failed; ingest dead-letters them.
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejected_actions: list[RejectedAction] = field(default_factory=list)
    # (index in the batch, customer): events of a visitor merged into that customer
    # (actors.model.identity); ingest sends them on to the customer's shard.
    redirected: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class CustomerWork:
    customer_id: str
    slot: int
    events: list[tuple[int, Event]]
    # Where each event of the batch was read (actors.model.dedup.pack_position) and the
    # visitor whose records brought it (sent on after a merge), by batch index.
    positions: Sequence[int] = ()
    origins: Sequence[str | None] = ()
    read_at: float | None = None
    outcomes: list[TurnOutcome] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    # Actions as committed to the outbox: (idempotency key, json), serialised once.
    saved_actions: list[tuple[str, bytes]] = field(default_factory=list)
    # The state the turns ran on: the commit saves this object, whatever the live set
    # holds by then.
    state: CustomerState | None = None
    # Visitors merged into this customer by these turns, taken over by its commit.
    merges: list[MergeSource] = field(default_factory=list)
    redirected: list[tuple[int, str]] = field(default_factory=list)
    suppressed: int = 0

    def arrival(self, index: int) -> Arrival:
        return Arrival(
            self.positions[index] if self.positions else NO_POSITION,
            self.read_at,
            self.origins[index] if self.origins else None,
        )

    def restart(self) -> None:
        """Forget what the turns did: they run again from the saved state."""
        self.outcomes.clear()
        self.merges.clear()
        self.redirected.clear()

    def without_failed(self) -> None:
        """Drop the events that broke a turn: the rest run again without them."""
        self.events = [(i, e) for i, e in self.events if i not in self.failed]


def traces_of(outcomes: Sequence[TurnOutcome]) -> list[bytes]:
    """The turns' decision traces as saved (none when the actor keeps none)."""
    return [orjson.dumps(o.trace) for o in outcomes if o.trace is not None]


def add_reminder_changes(commit: Commit, outcome: TurnOutcome) -> None:
    """A turn's reminder changes on top of the earlier turns' in `commit`: a later set
    or cancel of a kind replaces an earlier one."""
    for kind in outcome.reminders_cancelled:
        commit.reminders_cancelled.append(kind)
        commit.reminders_set = [(k, d) for k, d in commit.reminders_set if k != kind]
    for kind, due in outcome.reminders_set:
        commit.reminders_set = [(k, d) for k, d in commit.reminders_set if k != kind]
        commit.reminders_set.append((kind, due))


def commit_of(w: CustomerWork, ttl_s: int, trace_keep: int, trace_ttl_s: int) -> Commit | None:
    """The commit of a customer's turns in this batch (None: nothing changed). Its
    reminders are what the turns left in force, in turn order: a later set or cancel of a
    kind replaces an earlier one."""
    changed = [o for o in w.outcomes if not o.duplicate]
    if not changed and not w.merges:
        return None
    state = w.state
    assert state is not None, "turns ran before the commit"
    commit = Commit(
        w.slot,
        w.customer_id,
        state.version,
        state_to_json(state),
        ttl_s=ttl_s,
        trace=traces_of(changed),
        trace_keep=trace_keep,
        trace_ttl_s=trace_ttl_s,
        merges=list(w.merges),
        segments=tuple(state.segments or ()),
    )
    for outcome in changed:
        commit.actions += [(a.idempotency_key, action_to_json(a)) for a in outcome.outbound]
        commit.actions += [rejection_entry(r) for r in outcome.rejected]
    for outcome in changed:
        add_reminder_changes(commit, outcome)
        commit.counters += outcome.counters
        commit.guard.update(outcome.guard)
    return commit
