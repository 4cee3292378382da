"""One identity per person: a visitor linked by `identify` or `alias` is merged into the
customer once, even across shards and failures, and its later events follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from actors.errors import StoreUnavailableError
from actors.hosting.batch import BatchResult
from actors.hosting.host import ShardHost
from actors.model.events import Event, event_to_json
from actors.model.identity import Visitor, redirected
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json
from actors.storage.memory_store import MemoryStateStore
from actors.storage.slots import slot_of
from actors.storage.store import Commit
from tests.actors.hosting.test_host import RecordingSink, live, make_host
from tests.support import T0, event

VISITOR = "anon:v1"


def visit(kind: str, at: float, **fields: object) -> Event:
    """An event of the anonymous visitor v1."""
    return event(kind, customer=None, anonymous_id="v1", at=at, **fields)


def login(customer: str = "c1", at: float = T0 + 100, kind: str = "identify") -> Event:
    """The visitor v1 signing in as `customer`."""
    return event(kind, customer=customer, anonymous_id="v1", at=at)


async def run(host: ShardHost, events: Sequence[Event | bytes]) -> BatchResult:
    host.dispatcher.start()
    try:
        raw = [e if isinstance(e, bytes) else event_to_json(e) for e in events]
        result = await host.process(raw)
        await host.dispatcher.drain()
        return result
    finally:
        await host.dispatcher.stop()


def saved(store: MemoryStateStore, customer: str) -> CustomerState:
    _, data = store.states[(slot_of(customer, 16), customer)]
    return state_from_json(data)


def two_shards() -> tuple[MemoryStateStore, ShardHost, ShardHost]:
    """Two hosts over one store: the visitor's and the customer's shard."""
    store = MemoryStateStore()
    return store, make_host(store), make_host(store)


def browsing() -> list[Event]:
    return [
        visit("product_view", T0, product_id="p1"),
        visit("cart_add", T0 + 10, product_id="p2", price=30.0),
    ]


def test_signing_in_merges_the_visitors_history_into_the_customer_once() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        await run(customers, [event("purchase", customer="c1", at=T0 - 86_400)])

        identify = login()
        result = await run(customers, [identify])

        assert result.processed == 1
        state = saved(store, "c1")
        assert state.cart is not None
        assert set(state.cart) == {"p2"}
        assert state.orders == 1  # the customer's own history is kept
        assert state.events_total == 4  # 2 visits + purchase + identify
        assert state.linked == [VISITOR]
        assert store.links[(slot_of(VISITOR, 16), VISITOR)] == "c1"
        # The link took the visitor's place: its data is gone, so nothing can merge twice.
        assert store.states[(slot_of(VISITOR, 16), VISITOR)][1] == b""

        again = await run(customers, [identify])  # redelivered
        assert again.duplicates == 1
        assert saved(store, "c1").events_total == 4

    asyncio.run(scenario())


def test_a_redelivered_link_after_the_customer_was_passivated_merges_nothing_twice() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        identify = login()
        await run(customers, [identify])
        customers.live.discard("c1")
        # The same sign-in under a new event id (an SDK's second identify call).
        await run(customers, [login(at=T0 + 200)])
        state = saved(store, "c1")
        assert state.cart is not None
        assert state.cart["p2"][2] == 1
        assert state.linked == [VISITOR]

    asyncio.run(scenario())


def test_an_alias_links_the_visitor_like_an_identify() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        await run(customers, [login(kind="alias")])
        state = saved(store, "c1")
        assert state.cart is not None
        assert "p2" in state.cart
        # An alias says who the customer is, not what they did.
        assert state.events_total == 2

    asyncio.run(scenario())


def test_later_visitor_events_are_redirected_and_applied_to_the_customer() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        first = browsing()
        await run(visitors, first)
        await run(customers, [login()])

        later = visit("product_view", T0 + 300, product_id="p9")
        result = await run(visitors, [later, first[0]])  # first[0]: a redelivery

        assert result.processed == 0
        assert result.redirected == [(0, "c1"), (1, "c1")]
        sent_on = [redirected(event_to_json(e), "c1") for e in (later, first[0])]
        at_customer = await run(customers, sent_on)
        assert (at_customer.processed, at_customer.duplicates) == (1, 1)
        state = saved(store, "c1")
        assert state.session_products is not None
        assert "p9" in state.session_products

    asyncio.run(scenario())


def test_the_visitors_old_live_copy_can_no_longer_commit_after_the_merge() -> None:
    """The visitor's shard still holds the visitor in memory when the customer's shard
    merges it: its next event must go to the customer, not into that stale copy."""

    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        assert live(visitors, VISITOR).merged_into is None
        await run(customers, [login()])

        result = await run(visitors, [visit("page_view", T0 + 400)])

        assert result.redirected == [(0, "c1")]
        assert visitors.stats["conflicts"] == 1  # the stale copy's commit was refused
        assert store.states[(slot_of(VISITOR, 16), VISITOR)][1] == b""

    asyncio.run(scenario())


def test_the_first_link_wins_and_the_second_customers_event_still_applies() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        await run(customers, [login("c1")])

        result = await run(customers, [login("c2", at=T0 + 500)])

        assert result.processed == 1
        assert customers.stats["links_conflict"] == 1
        assert store.links[(slot_of(VISITOR, 16), VISITOR)] == "c1"
        second = saved(store, "c2")
        assert second.cart is None
        assert second.linked is None
        assert second.events_total == 1

    asyncio.run(scenario())


def test_a_visitor_that_changes_during_the_merge_is_merged_with_the_change() -> None:
    """The visitor's shard commits an event between the customer's read of the visitor and
    the customer's commit: the commit is refused and the turn runs again on both fresh."""

    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        read = store.visitor

        async def read_then_visitor_moves(slot: int, actor_id: str):  # type: ignore[no-untyped-def]
            seen = await read(slot, actor_id)
            store.visitor = read  # type: ignore[method-assign]
            await run(visitors, [visit("cart_add", T0 + 50, product_id="p3", price=5.0)])
            return seen

        store.visitor = read_then_visitor_moves  # type: ignore[method-assign]
        await run(customers, [login()])

        assert customers.stats["conflicts"] == 1
        state = saved(store, "c1")
        assert state.cart is not None
        assert set(state.cart) == {"p2", "p3"}

    asyncio.run(scenario())


def test_a_commit_failing_mid_merge_leaves_both_as_they_were_and_the_retry_merges_once() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        commit = store.commit_many
        calls = 0

        async def unreachable_once(commits: Sequence[Commit]) -> list[int | None]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreUnavailableError("commit", "connection reset")
            return await commit(commits)

        store.commit_many = unreachable_once  # type: ignore[method-assign]
        identify = login()
        with pytest.raises(StoreUnavailableError):
            await run(customers, [identify])
        assert (slot_of("c1", 16), "c1") not in store.states
        assert saved(store, VISITOR).cart is not None
        assert (slot_of(VISITOR, 16), VISITOR) not in store.links

        await run(customers, [identify])  # ingest's retry of the batch
        state = saved(store, "c1")
        assert state.cart is not None
        assert state.cart["p2"][2] == 1
        assert state.linked == [VISITOR]

    asyncio.run(scenario())


def test_the_visitors_pending_reminder_fires_for_the_customer() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        sink = RecordingSink()
        customers = make_host(store, sink=sink)
        await run(visitors, browsing())  # a cart: an abandonment reminder is set
        assert "cart_abandonment" in await store.reminders_of(slot_of(VISITOR, 16), VISITOR)
        await run(customers, [login()])
        assert await store.reminders_of(slot_of(VISITOR, 16), VISITOR) == {}
        assert "cart_abandonment" in await store.reminders_of(slot_of("c1", 16), "c1")

    asyncio.run(scenario())


def test_forgetting_the_customer_forgets_every_linked_visitor() -> None:
    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        await run(customers, [login()])
        await customers.forget("c1", ["cart_abandonment"])
        assert store.states[(slot_of("c1", 16), "c1")][1] == b""
        assert store.states[(slot_of(VISITOR, 16), VISITOR)][1] == b""
        assert (slot_of(VISITOR, 16), VISITOR) not in store.links
        # One more page view from the visitor's browser brings nobody back: not applied,
        # not sent on, the customer not written again.
        result = await run(visitors, [visit("page_view", T0 + 900)])
        assert (result.processed, result.suppressed, result.redirected) == (0, 1, [])
        assert store.states[(slot_of("c1", 16), "c1")][1] == b""

    asyncio.run(scenario())


def test_a_visitor_identifying_without_a_customer_id_is_not_linked() -> None:
    async def scenario() -> None:
        store, visitors, _ = two_shards()
        await run(visitors, [*browsing(), visit("identify", T0 + 20)])
        assert saved(store, VISITOR).linked is None
        assert store.links == {}

    asyncio.run(scenario())


def test_the_visitor_out_of_reach_fails_the_batch_and_the_retry_merges_once() -> None:
    """Redis fails while the customer's turn reads the visitor: the batch fails whole
    (ingest retries it), nothing is written, and the retry merges the visitor once."""

    async def scenario() -> None:
        store, visitors, customers = two_shards()
        await run(visitors, browsing())
        read = store.visitor
        calls = 0

        async def unreachable_once(slot: int, actor_id: str) -> Visitor:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreUnavailableError("load", "connection reset")
            return await read(slot, actor_id)

        store.visitor = unreachable_once  # type: ignore[method-assign]
        identify = login()
        with pytest.raises(StoreUnavailableError):
            await run(customers, [identify])
        assert (slot_of("c1", 16), "c1") not in store.states
        assert (slot_of(VISITOR, 16), VISITOR) not in store.links

        await run(customers, [identify])
        state = saved(store, "c1")
        assert state.cart is not None
        assert state.cart["p2"][2] == 1
        assert state.linked == [VISITOR]

    asyncio.run(scenario())
