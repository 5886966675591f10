"""Periodic work of the worker processes (blob sweep, parked expiry, parked copies): at start and
every interval until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

__all__ = ["Periodic"]

log = structlog.get_logger(__name__)


class Periodic:
    """Runs ``work`` at start and every ``interval`` seconds until stopped; a failed round is
    logged (``<name>_failed``) and tried again at the next one."""

    def __init__(self, name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
        self._name = name
        self._interval = interval
        self._work = work
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self._work()
            except Exception:
                log.exception(f"{self._name}_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
