"""One poll helper for "wait until this becomes true", instead of fixed sleeps and hand loops.

``await eventually(check, within=5)`` calls ``check`` (sync or async) every ``interval`` seconds
until it returns a truthy value, and returns that value; after ``within`` seconds it fails the
test with ``what`` and the last value seen. An ``AssertionError`` raised by ``check`` counts as
"not yet" (so a check may be written with plain asserts); the last one is re-raised at the end.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    within: float = 5.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """The first truthy result of ``check``; fails the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: object = None
    failure: AssertionError | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            failure = None
        except AssertionError as exc:
            result, failure = None, exc
        if result:
            return result
        last = result
        if time.monotonic() >= deadline:
            if failure is not None:
                raise failure
            pytest.fail(f"expected {what} within {within}s; last value: {last!r}")
        await asyncio.sleep(interval)
