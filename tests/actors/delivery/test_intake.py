"""sort_batch: step 1 of the dispatcher, deciding what each outbox entry needs."""

from __future__ import annotations

import orjson

from actors.delivery.intake import sort_batch
from actors.delivery.letters import REJECTED_PREFIX
from actors.model.actions import action_to_json
from actors.storage.store import OutboxEntry
from tests.actors.delivery.test_outbox import make_action

SINKS = {"kafka", "webhook"}


def entry(key: str, sink: str = "kafka", attempted_at: float | None = None) -> OutboxEntry:
    return OutboxEntry(1, key, action_to_json(make_action(key, sink)), attempted_at=attempted_at)


def test_each_entry_goes_where_its_history_says() -> None:
    rejected = OutboxEntry(1, f"{REJECTED_PREFIX}x", orjson.dumps({"reason": "no price"}))
    garbage = OutboxEntry(1, "junk", b'{"type": "nothing"}')
    batch = [
        entry("sent"),
        entry("buried"),
        entry("unmarked"),
        rejected,
        garbage,
        entry("begun", attempted_at=5.0),
        entry("begun-elsewhere", sink="email", attempted_at=5.0),
        entry("fresh"),
    ]
    out = sort_batch(batch, {"sent"}, {"buried"}, {"unmarked"}, SINKS)
    assert [e.key for e in out.done] == ["sent", "buried", "unmarked"]
    assert [a.idempotency_key for a in out.remembered] == ["unmarked"]
    assert out.duplicates == 3
    assert (out.letters[0][0].key, out.letters[0][1]) == (rejected.key, "no price")
    assert out.letters[1][0] is garbage
    assert out.letters[1][1].startswith("invalid action")
    assert [e.key for e, _ in out.lookups] == ["begun"]
    # A sink that is not configured cannot be asked: judged, and dead-lettered there.
    assert [e.key for e, _ in out.judge] == ["begun-elsewhere", "fresh"]
