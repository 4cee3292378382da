"""Suppressed addresses, the same in memory and in Redis (actors.delivery.mail.suppressions)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from actors.delivery.mail.suppressions import (
    MemorySuppressions,
    RedisSuppressions,
    Suppressions,
    suppression,
)

Scenario = Callable[[Suppressions], Awaitable[None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    def runner(scenario: Scenario) -> None:
        async def body() -> None:
            if request.param == "memory":
                await scenario(MemorySuppressions())
                return
            url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
            client = aioredis.from_url(url)
            try:
                await scenario(RedisSuppressions(client, f"{prefix}:email:suppressed"))
            finally:
                await client.aclose()

        asyncio.run(body())

    return runner


def test_a_bounce_outranks_a_complaint_and_addresses_match_whatever_the_case(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Suppressions) -> None:
        await store.add([suppression("Ann@Example.com", "complaint", "ses", "x", at=1.0)])
        await store.add([suppression("ann@example.com", "bounce", "ses", "5.1.1", at=2.0)])
        await store.add([suppression("ann@example.com", "complaint", "ses", "again", at=3.0)])
        found = await store.of(["ANN@example.com", "bob@example.com"])
        assert list(found) == ["ann@example.com"]
        assert (found["ann@example.com"].kind, found["ann@example.com"].at) == ("bounce", 2.0)

    run(scenario)


def test_a_lifted_suppression_is_gone_and_the_list_is_newest_first(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Suppressions) -> None:
        await store.add(
            [
                suppression("a@example.com", "bounce", "postmark", "hard", at=1.0),
                suppression("b@example.com", "complaint", "mailgun", "spam", at=2.0),
            ]
        )
        assert [s.address for s in await store.listed(10)] == ["b@example.com", "a@example.com"]
        assert await store.remove("A@example.com") is True
        assert await store.remove("a@example.com") is False
        assert await store.of(["a@example.com"]) == {}

    run(scenario)


def test_a_bounce_stops_every_email_a_complaint_only_marketing() -> None:
    bounce = suppression("a@example.com", "bounce", "ses", "5.1.1")
    complaint = suppression("a@example.com", "complaint", "ses", "spam")
    assert bounce.blocks("service") == "address suppressed: hard bounce (ses: 5.1.1)"
    assert complaint.blocks("marketing") == "address suppressed: complaint (ses)"
    assert complaint.blocks("service") is None
