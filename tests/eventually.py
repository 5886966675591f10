"""One poll helper for "wait until this becomes true", instead of fixed sleeps and hand loops.

``await eventually(check, within=5)`` calls ``check`` (sync or async) every ``interval`` seconds
until it returns a truthy value, and returns that value; after ``within`` seconds it fails the
test with ``what`` and the last value seen. An ``AssertionError`` raised by ``check`` counts as
"not yet" (so a check may be written with plain asserts); the last one is re-raised at the end.
Any other exception ends the wait at once. ``eventually_sync`` is the same for synchronous
tests and fixtures (it blocks the thread while it waits).

A fixed sleep stays only where a test lets time pass to show that nothing happens; such a sleep
says so in a comment.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import pytest

T = TypeVar("T")


class _Poll:
    """The rule both flavours share: done on a truthy value, fail the test once time is up."""

    def __init__(self, within: float, what: str) -> None:
        self.within = within
        self.what = what
        self.deadline = time.monotonic() + within

    def done(self, value: object, failure: AssertionError | None) -> bool:
        if value:
            return True
        if time.monotonic() >= self.deadline:
            if failure is not None:
                raise failure
            pytest.fail(f"expected {self.what} within {self.within}s; last value: {value!r}")
        return False


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    *,
    within: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    within: float = 5.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """The first truthy result of ``check``; fails the test after ``within`` seconds."""
    poll = _Poll(within, what)
    while True:
        failure: AssertionError | None = None
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except AssertionError as exc:
            value, failure = None, exc
        if poll.done(value, failure):
            return value
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T | None],
    *,
    within: float = 5.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """``eventually`` for synchronous code: the first truthy result of ``check``."""
    poll = _Poll(within, what)
    while True:
        failure: AssertionError | None = None
        value: T | None
        try:
            value = check()
        except AssertionError as exc:
            value, failure = None, exc
        if poll.done(value, failure):
            assert value is not None
            return value
        time.sleep(interval)
