"""eventually: a test waits for a state and fails naming it."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.eventually import NeverHappenedError, eventually, eventually_async


def test_it_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert eventually(lambda: next(calls) >= 2 and "ready", 5, "three calls", 0.001) == "ready"


def test_it_fails_naming_what_never_came_and_the_last_value() -> None:
    with pytest.raises(NeverHappenedError, match=r"the answer.*last: 0"):
        eventually(lambda: 0, 0.05, "the answer", 0.01)


def test_a_failing_assertion_in_the_probe_means_not_yet() -> None:
    calls = itertools.count()

    def probe() -> bool:
        assert next(calls) >= 3, "still early"
        return True

    assert eventually(probe, 5, "a fourth call", 0.001) is True


def test_the_async_form_waits_without_blocking_the_loop() -> None:
    async def main() -> int:
        box = [0]

        async def later() -> None:
            await asyncio.sleep(0.02)
            box[0] = 7

        task = asyncio.ensure_future(later())

        async def probe() -> int:
            return box[0]

        value = await eventually_async(probe, 5, "the box filled", 0.005)
        await task
        return value

    assert asyncio.run(main()) == 7
