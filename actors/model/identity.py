"""One identity per person: which events link a visitor to a customer, and how.

A visitor browses as `anon:<anonymous id>`; when an `identify` or an `alias` names both
the anonymous id and a customer id, the visitor is *linked* to the customer:

- the visitor's state (sessions, cart, affinities, applied event ids, ...), its reminders
  and its guardrail counters are merged into the customer's, once: the customer's commit
  writes the merged state, moves the reminders and counters and leaves the link in the
  visitor's place, in one atomic step that compare-and-sets both versions
  (actors.storage.store). A host that dies before that step leaves nothing half-merged; a
  redelivered link finds the link and the visitor's data gone, and merges nothing twice;
- later events naming only the visitor go to the customer: the visitor's host answers
  them with a redirect and ingest sends them on (applied-event ids merged with the
  state make a redelivered one a duplicate there);
- reads and forgets for the visitor's id answer for the customer, and forgetting the
  customer forgets every visitor linked to it;
- first link wins: a visitor already linked to another customer stays linked there (a
  shared computer must not pour one person's browsing into the next person's profile);
  the later customer's own event still applies to it, and the refusal is counted;
- only visitors are merged, never two known customers; a customer absorbs at most
  MAX_LINKED visitors, later ones stay separate visitors;
- a forgotten visitor (its tombstone lasts: actors.storage.store `forget`) is linked to no
  one, so a forgotten person's device cannot bring them back into another profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import orjson

from actors.model.bounds import MAX_LINKED
from actors.model.events import ANON_PREFIX, Alias, Event, Identify
from actors.model.merge import merge_states
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json


def link_source(event: Event) -> str | None:
    """The visitor an event links to its customer (`anon:` actor id), or None."""
    if not isinstance(event, Identify | Alias):
        return None
    if event.customer_id is None or event.anonymous_id is None:
        return None
    return ANON_PREFIX + event.anonymous_id


@dataclass(frozen=True, slots=True)
class Visitor:
    """A visitor as read for a merge: its saved state and version, the customer it is
    linked to (if any), and its pending reminders (kind → due time)."""

    version: int
    data: bytes | None
    linked_to: str | None
    reminders: dict[str, float]
    # Forgotten (its tombstone lasts): nothing of it may be taken, nor a link made to it.
    forgotten: bool = False


@dataclass(frozen=True, slots=True)
class MergeSource:
    """What a customer's commit takes over from a visitor: the commit refuses (a version
    conflict) unless the visitor is still at `version` and linked to no one else."""

    slot: int
    actor_id: str
    version: int
    reminders: tuple[tuple[str, float], ...]


class Link(Enum):
    MERGE = "merge"  # take the visitor's history over
    LINKED = "linked"  # already merged here (its data is gone): nothing to take
    CONFLICT = "conflict"  # linked to another customer: first link wins
    FULL = "full"  # the customer has MAX_LINKED visitors already
    FORGOTTEN = "forgotten"  # the visitor was forgotten: it is linked to no one


def decide(customer_id: str, state: CustomerState, visitor: Visitor) -> Link:
    if visitor.forgotten:
        return Link.FORGOTTEN
    if visitor.linked_to is not None:
        return Link.LINKED if visitor.linked_to == customer_id else Link.CONFLICT
    if len(state.linked or ()) >= MAX_LINKED:
        return Link.FULL
    return Link.MERGE


def merged(state: CustomerState, source: str, visitor: Visitor) -> CustomerState:
    """The customer's state with the visitor's history folded in and the visitor noted as
    linked; `state` is left as it was (a failed commit must not keep half a merge)."""
    other = state_from_json(visitor.data) if visitor.data else CustomerState()
    if other.applied is not None:
        # Later records of the visitor reach the customer sent on, as the visitor's streams.
        other.applied = other.applied.as_visitor(source)
    out = merge_states(state, other)
    out.version = state.version
    out.linked = [*(out.linked or ()), source][-MAX_LINKED:]
    return out


def noted(state: CustomerState, source: str) -> None:
    """Records a visitor already linked here (the customer's state was restored from
    before the link, or lost it) so that later links of it skip the store."""
    if source not in (state.linked or ()):
        state.linked = [*(state.linked or ()), source][-MAX_LINKED:]


def redirected(raw: bytes, customer_id: str) -> bytes:
    """A visitor's event, as sent on to the customer it is linked to: the same event
    (same id, so a duplicate stays one) naming the customer."""
    body = orjson.loads(raw)
    body["customer_id"] = customer_id
    return orjson.dumps(body)
