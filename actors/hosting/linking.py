"""Linking a visitor to the customer whose turn names it (actors.model.identity): read the
visitor's saved actor, decide, and merge it in when it may be. The customer's commit then
takes the visitor over in the store, compare-and-set on the visitor's version too."""

from __future__ import annotations

import logging

from actors.hosting.batch import CustomerWork
from actors.model.identity import Link, MergeSource, decide, merged, noted
from actors.model.state import CustomerState
from actors.storage.slots import slot_of
from actors.storage.store import StateStore

log = logging.getLogger(__name__)


async def link_visitor(
    store: StateStore, slots: int, w: CustomerWork, state: CustomerState, source: str
) -> tuple[Link, CustomerState]:
    """What was decided for the visitor `source`, and the state the customer's turns go
    on with (a new, merged state when the visitor merged in; `w` then holds it and the
    merge its commit owes)."""
    slot = slot_of(source, slots)
    visitor = await store.visitor(slot, source)
    decision = decide(w.customer_id, state, visitor)
    if decision is Link.LINKED:
        noted(state, source)
    if decision is not Link.MERGE:
        if decision is not Link.LINKED:
            log.info(
                "visitor not linked (%s)",
                decision.value,
                extra={"customer_id": w.customer_id, "visitor": source},
            )
        return decision, state
    combined = merged(state, source, visitor)
    w.state = combined
    w.merges.append(
        MergeSource(slot, source, visitor.version, tuple(sorted(visitor.reminders.items())))
    )
    return decision, combined
