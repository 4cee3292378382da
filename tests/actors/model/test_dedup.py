"""Which events a customer has applied (actors.model.dedup): every redelivery, replay and
second copy is a no-op, and what is kept stays bounded whatever the customer's age,
merges or the broker's layout."""

from __future__ import annotations

import struct

from actors.model.dedup import (
    MAX_IDS,
    MAX_MARKS,
    MIN_IDS,
    REDELIVERED,
    WINDOW_S,
    Applied,
    Arrival,
    Seen,
    key_hash,
    pack_position,
)
from actors.model.identity import Visitor, merged
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json, state_to_json
from tests.support import T0, event


def test_a_replay_from_the_start_of_its_partition_is_recognised_however_long_the_history() -> None:
    # Given a customer with far more events than ids are kept for, read from partition 3
    state = CustomerState()
    events = [event("page_view", at=T0 + n) for n in range(3 * MAX_IDS)]
    for offset, e in enumerate(events):
        state.apply(e, Arrival(pack_position(3, 10_000 + offset), T0 + offset))
    total = state.events_total
    # when the group is reset to the earliest offset and every record comes again
    for offset, e in enumerate(events):
        assert state.seen(e, Arrival(pack_position(3, 10_000 + offset), T0 + 9e5)) is Seen.DUPLICATE
        state.apply(e, Arrival(pack_position(3, 10_000 + offset), T0 + 9e5))
    # then nothing is applied twice, and the ids kept stayed bounded
    assert state.events_total == total
    assert state.applied is not None
    assert len(state.applied) <= MAX_IDS


def test_ids_are_bounded_by_count() -> None:
    state = CustomerState()
    for n in range(MAX_IDS + 500):
        state.apply(event("page_view", at=T0 + n))
    assert state.applied is not None
    assert len(state.applied) == MAX_IDS


def test_ids_are_bounded_by_time_keeping_the_newest_whatever_their_age() -> None:
    # Given a customer who came back once a day for a year, ten events each time
    state = CustomerState()
    for day in range(365):
        for n in range(10):
            state.apply(event("page_view", at=T0 + day * 86_400 + n))
    # then only the ids of about the last day are kept, never fewer than the floor
    assert state.applied is not None
    assert MIN_IDS <= len(state.applied) < MIN_IDS + 20


def test_after_a_merge_the_ids_stay_bounded_as_the_customer_goes_on() -> None:
    # Given a visitor whose records came from partition 0, merged into a customer
    visitor = CustomerState()
    for offset in range(5):
        visitor.apply(
            event("page_view", customer=None, anonymous_id="v", at=T0 + offset),
            Arrival(pack_position(0, offset), T0 + offset),
        )
    customer = merged(CustomerState(), "anon:v", Visitor(1, state_to_json(visitor), None, {}))
    # when the customer goes on for 24,000 events of its own partition
    for offset in range(24_000):
        customer.apply(
            event("page_view", at=T0 + 10 + offset),
            Arrival(pack_position(2, offset), T0 + 10 + offset / 100),
        )
    # then its kept ids are bounded as a customer's without a merge would be
    assert customer.applied is not None
    assert len(customer.applied) == MAX_IDS
    assert set(customer.applied.marks) == {"2", "0|anon:v"}


def test_a_customer_whose_key_moved_partition_keeps_a_bounded_record_and_knows_both() -> None:
    state = CustomerState()
    before = [event("page_view", at=T0 + n) for n in range(2000)]
    after = [event("page_view", at=T0 + 5000 + n) for n in range(2000)]
    for offset, e in enumerate(before):
        state.apply(e, Arrival(pack_position(1, offset), T0 + offset))
    # the events topic got more partitions: the customer's records now land in partition 5
    for offset, e in enumerate(after):
        state.apply(e, Arrival(pack_position(5, offset), T0 + 5000 + offset))
    assert state.applied is not None
    assert len(state.applied) <= MAX_IDS
    assert state.seen(before[0], Arrival(pack_position(1, 0), T0 + 1e4)) is Seen.DUPLICATE
    assert state.seen(after[0], Arrival(pack_position(5, 0), T0 + 1e4)) is Seen.DUPLICATE


def test_marks_are_bounded_however_many_partitions_and_visitors() -> None:
    applied = Applied()
    for n in range(MAX_MARKS * 3):
        applied.record(key_hash(f"e{n}"), pack_position(n % 7, n), T0, origin=f"anon:{n}")
    assert len(applied.marks) == MAX_MARKS


def test_a_visitors_record_sent_on_late_is_applied_not_taken_for_a_replay() -> None:
    # Given two visitors merged into one customer, both read from partition 0: V's record
    # at offset 20 reached the customer, W's at offset 18 was held by a shard outage
    customer = CustomerState()
    v20 = event("page_view", customer="c1", at=T0 + 20)
    customer.apply(v20, Arrival(pack_position(0, 20), T0, origin="anon:v"))
    w18 = event("page_view", customer="c1", at=T0 + 18)
    # when W's record arrives after V's
    seen = customer.seen(w18, Arrival(pack_position(0, 18), T0 + 1, origin="anon:w"))
    # then it is new: each visitor's records are a stream of their own
    assert seen is Seen.NEW


def test_a_client_source_cannot_hide_a_servers_event_behind_its_id() -> None:
    state = CustomerState()
    squat = event("page_view", event_id="pay-77", source="client")
    payment = event("card_payment", event_id="pay-77")
    state.apply(squat)
    assert state.seen(payment) is Seen.NEW
    state.apply(payment)
    assert state.pay_count == 1
    # and a client's own second copy is still a duplicate
    assert state.seen(squat) is Seen.DUPLICATE


def test_a_rabbitmq_redelivery_is_judged_by_its_id_and_refused_when_that_cannot_tell() -> None:
    state = CustomerState()
    first = event("page_view", at=T0)
    state.apply(first, Arrival(REDELIVERED, T0))
    # a redelivery whose id is kept is a duplicate
    assert state.seen(first, Arrival(REDELIVERED, T0 + 1)) is Seen.DUPLICATE
    # a redelivery never seen, while no id was cut, was never applied: it is new
    unseen = event("page_view", at=T0 + 1)
    assert state.seen(unseen, Arrival(REDELIVERED, T0 + 1)) is Seen.NEW
    # more events than ids are kept, arriving at once (a flood), cut ids still redeliverable
    for n in range(MAX_IDS + 1):
        state.apply(event("page_view", at=T0 + 2 + n), Arrival(REDELIVERED, T0 + 2))
    # then a redelivery whose id is gone cannot be told: refused, not applied twice
    assert state.seen(unseen, Arrival(REDELIVERED, T0 + 3)) is Seen.UNKNOWN
    # and once the cut ids could no longer come again, it is judged new
    assert state.seen(unseen, Arrival(REDELIVERED, T0 + 3 + WINDOW_S)) is Seen.NEW


def test_an_id_is_found_only_at_its_own_place_in_the_packed_ids() -> None:
    # The 8 bytes of a key may appear across two packed ids: that is not the key.
    a, b = 0x1122334455667788, 0x99AABBCCDDEEFF00
    packed = struct.pack("=QQ", a, b)
    straddling = struct.unpack("=Q", packed[4:12])[0]
    applied = Applied()
    applied.record(a, -1, T0)
    applied.record(b, -1, T0)
    assert applied.has(a)
    assert applied.has(b)
    assert not applied.has(straddling)


def test_the_kept_ids_survive_the_saved_form() -> None:
    state = CustomerState()
    for offset in range(10):
        state.apply(event("page_view", at=T0 + offset), Arrival(pack_position(1, offset), T0))
    again = state_from_json(state_to_json(state))
    assert again == state
    assert again.applied is not None
    assert again.applied.marks == {"1": 10}


def test_a_recreated_events_topic_starts_streams_of_its_own() -> None:
    # Given a customer with 100 events read from partition 0 of the events topic
    state = CustomerState()
    for offset in range(100):
        state.apply(event("page_view", at=T0 + offset), Arrival(pack_position(0, offset, 0xA1)))
    # when the topic is deleted and created again (or replaced by a new one), its offsets
    # start at 0 under a new topic id
    fresh = event("page_view", at=T0 + 200)
    # then its records are new, not taken for a replay of the old topic's
    assert state.seen(fresh, Arrival(pack_position(0, 5, 0xB2))) is Seen.NEW
    # while the old topic's are still known
    again = event("page_view", at=T0 + 201)
    assert state.seen(again, Arrival(pack_position(0, 5, 0xA1))) is Seen.DUPLICATE
