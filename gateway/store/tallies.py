"""Counts for metrics, taken from the database when they are asked for: submissions by status,
delivery attempts by adapter and outcome with their latency distribution, parked messages by
queue. Any process answers with the same numbers, however many workers recorded them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import DeliveryAttempt, ParkedMessage, Submission

__all__ = ["LATENCY_BUCKETS_MS", "Latency", "Tallies", "parked_by_queue", "tallies"]

#: Upper bounds of the attempt latency buckets, in milliseconds.
LATENCY_BUCKETS_MS: tuple[int, ...] = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


@dataclass(frozen=True)
class Latency:
    """One adapter's attempt latencies: cumulative counts per bucket of :data:`LATENCY_BUCKETS_MS`."""

    adapter: str
    buckets: tuple[int, ...]
    count: int
    sum_ms: int


@dataclass(frozen=True)
class Tallies:
    #: (destination, service identifier, status) → submissions
    submissions: dict[tuple[str, str, str], int]
    #: (adapter, outcome) → attempts
    attempts: dict[tuple[str, str], int]
    latencies: Sequence[Latency]
    #: queue → parked messages on record
    parked: dict[str, int]


async def tallies(session: AsyncSession) -> Tallies:
    """Every count of :class:`Tallies` in one read."""
    submissions = await session.execute(
        select(
            Submission.destination_id, Submission.service_identifier, Submission.status, func.count()
        ).group_by(Submission.destination_id, Submission.service_identifier, Submission.status)
    )
    attempts = await session.execute(
        select(DeliveryAttempt.adapter, DeliveryAttempt.outcome, func.count()).group_by(
            DeliveryAttempt.adapter, DeliveryAttempt.outcome
        )
    )
    bounds = [func.sum(case((DeliveryAttempt.latency_ms <= b, 1), else_=0)) for b in LATENCY_BUCKETS_MS]
    latencies = await session.execute(
        select(DeliveryAttempt.adapter, func.count(), func.sum(DeliveryAttempt.latency_ms), *bounds)
        .group_by(DeliveryAttempt.adapter)
        .order_by(DeliveryAttempt.adapter)
    )
    return Tallies(
        submissions={(d, s, st): n for d, s, st, n in submissions},
        attempts={(a, o): n for a, o, n in attempts},
        latencies=[
            Latency(row[0], tuple(int(b or 0) for b in row[3:]), int(row[1]), int(row[2] or 0))
            for row in latencies
        ],
        parked=await parked_by_queue(session),
    )


async def parked_by_queue(session: AsyncSession) -> dict[str, int]:
    """Parked messages on record, per work queue."""
    rows = await session.execute(select(ParkedMessage.queue, func.count()).group_by(ParkedMessage.queue))
    return {queue: count for queue, count in rows}
