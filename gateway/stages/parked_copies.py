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

from collections.abc import Iterable

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker import Broker
from gateway.store.lifecycle import SubmissionStatus
from gateway.store.models import Submission

__all__ = ["ParkedCopies"]

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
