"""Draining stale copies from the parked queues of the deliver stage.

A parked delivery is recorded in the database (status ``parked``) and its message published to
``<ns>.parked.deliver.<destination>``. A replay or reject acts on the database only, so the copy
stays behind. The workers drain each destination's parked queue at start and every
``retention.sweep_interval_seconds``: a copy whose submission is no longer parked is removed, and
of several copies of one message (a submission parked, replayed and parked again) one stays, so
the queue's depth equals the destination's parked count. Copies of still parked submissions are
given back untouched. Several workers draining at once take disjoint messages; what one of them
misses is drained at the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker import Broker
from gateway.store.lifecycle import SubmissionStatus
from gateway.store.models import Submission

__all__ = ["ParkedCopies", "Periodic"]

log = structlog.get_logger(__name__)
_PREFIX = "deliver:"


class ParkedCopies:
    """Drains the parked queues of ``destinations``' deliver queues on ``broker``."""

    def __init__(
        self, broker: Broker, sessions: async_sessionmaker[AsyncSession], destinations: Iterable[str]
    ) -> None:
        self._broker = broker
        self._sessions = sessions
        topology = broker.topology
        self._queues = [topology.parked_queue(topology.deliver_queue(d)) for d in destinations]

    async def _still_parked(self, message_ids: list[str]) -> set[str]:
        ids = {m.removeprefix(_PREFIX) for m in message_ids if m.startswith(_PREFIX)}
        async with self._sessions() as session:
            parked = set(
                await session.scalars(
                    select(Submission.id).where(
                        Submission.id.in_(ids), Submission.status == SubmissionStatus.PARKED
                    )
                )
            )
        return {m for m in message_ids if not m.startswith(_PREFIX) or m.removeprefix(_PREFIX) in parked}

    async def run_once(self) -> dict[str, int]:
        """Drain every parked deliver queue; the copies removed per queue."""
        removed = {queue: await self._broker.drain(queue, self._still_parked) for queue in self._queues}
        if any(removed.values()):
            log.info("parked_copies_drained", **{q: n for q, n in removed.items() if n})
        return removed


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
