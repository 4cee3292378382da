"""Everything engage keeps about one person, as one JSON document: the answer to a data
subject's request for access (GDPR article 15), from `GET /v1/customers/{id}/export`
and `engage customers export ID`.

A person is a customer and every visitor merged into it. For each of them: the saved
state (traits, consent, session, lifetime figures, affinities, the offers made and the
decisions remembered, the events' marks), how long the store keeps it, the reminders
set, the decision traces, the actions waiting in the outbox, and the guardrails' facts
(marketing sent per channel and campaign, the opt-out). What the store does not hold
per person is not in it: aggregate counters, and the events and actions topics, which
keep each record for the broker's retention (docs/api.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

from actors.delivery.guardrails import GuardrailStore
from actors.model.state_format import state_from_json, state_to_dict
from actors.storage.slots import slot_of
from actors.storage.store import StateStore, owner_of

# Traces kept per customer are bounded by ENGAGE_ACTORS_TRACE_TURNS; this is a ceiling.
MAX_TRACES = 10_000
# Pending actions are read from the slot's outbox; a slot holds at most this many.
MAX_PENDING = 100_000

EXPORT_FORMAT = 1


async def subject_access(
    store: StateStore,
    guards: GuardrailStore | None,
    slots: int,
    customer_id: str,
) -> dict[str, Any]:
    """The person's document; `customer_id` is the resolved customer (a visitor's id
    names the customer it was merged into only once resolved by the caller)."""
    main = await _actor(store, guards, slots, customer_id)
    state = main.get("state") or {}
    visitors = list(state.get("linked") or ())
    return {
        "format": EXPORT_FORMAT,
        "customer_id": customer_id,
        "exported_at": time.time(),
        "known": main["known"],
        "linked_visitors": visitors,
        "actors": {
            customer_id: main,
            **{v: await _actor(store, guards, slots, v) for v in visitors},
        },
    }


async def _actor(
    store: StateStore, guards: GuardrailStore | None, slots: int, actor_id: str
) -> dict[str, Any]:
    slot = slot_of(actor_id, slots)
    (loaded,) = await store.load_many([(slot, actor_id)])
    pending = [
        json.loads(entry.action)
        for entry in await store.outbox([slot], MAX_PENDING)
        if owner_of(entry.action) == actor_id
    ]
    facts = (await guards.facts([(slot, actor_id)]))[0] if guards is not None else {}
    return {
        "known": loaded.data is not None,
        "forgotten_at": loaded.forgotten_at,
        "linked_to": loaded.linked_to,
        "state": state_to_dict(state_from_json(loaded.data)) if loaded.data else None,
        "retention_s": await store.retention_of(slot, actor_id),
        "reminders": await store.reminders_of(slot, actor_id),
        "traces": [json.loads(t) for t in await store.trace_of(slot, actor_id, MAX_TRACES)],
        "pending_actions": pending,
        "guardrails": dict(facts),
    }
