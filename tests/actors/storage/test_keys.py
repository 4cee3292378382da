"""Every Redis key engage uses is named in one place (actors.storage.keys), under its prefix."""

from __future__ import annotations

from actors.storage.keys import Keys


def test_every_key_is_under_the_deployments_prefix_and_none_collide() -> None:
    keys = Keys("shop1")
    named = [
        keys.state(7, "c1"),
        keys.reminders(7),
        keys.outbox(7),
        keys.attempts(7),
        keys.guard(7, "c1"),
        keys.trace(7, "c1"),
        keys.outcomes(7),
        keys.sent("k"),
        keys.slot_table(),
        keys.ingest_figures("r1"),
        keys.ingest_replicas(),
        keys.model("fraud", "aliases"),
        keys.models(),
        keys.models_epoch(),
        keys.shadow("fraud"),
    ]
    assert all(key.startswith("shop1:") for key in named)
    assert len(set(named)) == len(named)


def test_a_customers_keys_share_their_slots_hash_tag() -> None:
    keys = Keys("shop1")
    assert {keys.state(7, "c1")[:10], keys.guard(7, "c1")[:10], keys.outbox(7)[:10]} == {
        "shop1:{7}:"
    }
