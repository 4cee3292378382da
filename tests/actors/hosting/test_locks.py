"""CustomerLocks: one turn at a time per customer, none kept for idle customers."""

from __future__ import annotations

import asyncio

from actors.hosting.locks import CustomerLocks


def test_a_customer_is_busy_only_while_held_or_awaited() -> None:
    async def main() -> None:
        locks = CustomerLocks()
        assert "c1" not in locks
        async with locks.holding(["c1", "c2"]):
            assert "c1" in locks
            assert "c2" in locks
        assert "c1" not in locks
        assert "c2" not in locks

    asyncio.run(main())


def test_batches_sharing_customers_in_any_order_run_one_after_the_other() -> None:
    async def main() -> list[str]:
        locks = CustomerLocks()
        log: list[str] = []

        async def batch(name: str, ids: list[str]) -> None:
            async with locks.holding(ids):
                log.append(f"{name} in")
                await asyncio.sleep(0.01)
                log.append(f"{name} out")

        # Opposite orders would deadlock if the locks were taken as given.
        await asyncio.wait_for(
            asyncio.gather(batch("a", ["x", "y"]), batch("b", ["y", "x"])), timeout=5
        )
        return log

    assert asyncio.run(main()) == ["a in", "a out", "b in", "b out"]


def test_a_failed_wait_leaves_no_lock_behind() -> None:
    async def main() -> bool:
        locks = CustomerLocks()
        holder = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with locks.holding(["c1"]):
                holder.set()
                await release.wait()

        task = asyncio.ensure_future(hold())
        await holder.wait()
        waiter = asyncio.ensure_future(_enter(locks))
        await asyncio.sleep(0.01)
        waiter.cancel()
        release.set()
        await task
        return "c1" in locks

    assert asyncio.run(main()) is False


async def _enter(locks: CustomerLocks) -> None:
    async with locks.holding(["c1"]):
        pass
