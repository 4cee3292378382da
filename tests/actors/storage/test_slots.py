"""Slots: a stable home for every customer; moving slots moves as little as possible."""

from __future__ import annotations

from collections import Counter

from actors.storage.slots import SlotTable, slot_of


def test_a_customer_always_lands_in_the_same_slot() -> None:
    assert slot_of("c000042", 1024) == slot_of("c000042", 1024) == 363  # crc32: fixed forever


def test_slots_spread_customers_evenly() -> None:
    counts = Counter(slot_of(f"c{i}", 16) for i in range(16_000))
    assert min(counts.values()) > 800
    assert max(counts.values()) < 1200


def test_the_initial_table_gives_every_shard_an_equal_share() -> None:
    table = SlotTable.initial(1024, 4)
    assert Counter(table.owners) == {0: 256, 1: 256, 2: 256, 3: 256}
    assert table.epoch == 1


def test_losing_a_shard_moves_only_its_slots() -> None:
    table = SlotTable.initial(1024, 4)
    moved = table.rebalance([0, 1, 3])
    changed = [s for s in range(1024) if table.owner(s) != moved.owner(s)]
    assert sorted(changed) == table.slots_of(2)
    assert moved.epoch == 2
    assert sorted(Counter(moved.owners).values()) == [341, 341, 342]


def test_adding_a_shard_takes_a_fair_share_from_the_others() -> None:
    table = SlotTable.initial(1024, 2)
    grown = table.rebalance([0, 1, 2])
    changed = [s for s in range(1024) if table.owner(s) != grown.owner(s)]
    assert all(grown.owner(s) == 2 for s in changed)
    assert len(changed) == 341


def test_an_unchanged_rebalance_keeps_the_epoch() -> None:
    table = SlotTable.initial(64, 2)
    assert table.rebalance([0, 1]) is table


def test_tables_round_trip_through_json() -> None:
    table = SlotTable.initial(32, 3).rebalance([0, 2])
    assert SlotTable.from_json(table.to_json()) == table
