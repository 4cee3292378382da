"""Waiting in tests for a state, not for a time: `eventually` polls until what it is given
holds and fails naming what never came, with the last value seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class NeverHappenedError(AssertionError):
    pass


def eventually(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """Call `probe` until it returns a truthy value and return that value. A probe that
    raises AssertionError counts as not yet; after `timeout_s` the test fails, naming
    `what` and the last value or assertion seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = probe()
        except AssertionError as error:
            last: object = error
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise NeverHappenedError(f"not within {timeout_s} s: {what} (last: {last!r})")
        time.sleep(interval_s)


async def eventually_async(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """`eventually` for a coroutine probe, without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = await probe()
        except AssertionError as error:
            last: object = error
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise NeverHappenedError(f"not within {timeout_s} s: {what} (last: {last!r})")
        await asyncio.sleep(interval_s)
