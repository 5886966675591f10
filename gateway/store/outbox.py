"""The outbox table as the relay's source: claim a batch, mark what the broker confirmed.

Rows name a logical route (``process``, ``callbacks``, ``deliver.<destination>``); the topology
turns it into the queue name of this deployment's namespace.

A relay claims pending rows with a short lease (``claimed_until``), so several relays can run at
once without publishing the same rows in parallel: on PostgreSQL the claim skips rows another
relay is claiming (``FOR UPDATE SKIP LOCKED``); SQLite has a single writer anyway. A relay that
dies before ``mark_sent`` leaves its rows to be claimed again when the lease runs out; the
consumers' idempotency absorbs the duplicate publish.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.delivery.relay import OutboxRow
from gateway.delivery.topology import Topology
from gateway.store.models import Outbox, Submission, utcnow


def stage_row(stage: Literal["validate", "deliver"], submission: Submission) -> Outbox:
    """The outbox row that hands ``submission`` to the validation or the delivery stage."""
    if stage == "validate":
        return Outbox(
            queue="process",
            message_id=f"validate:{submission.id}",
            envelope={"stage": "validate", "submissionId": submission.id},
        )
    return Outbox(
        queue=f"deliver.{submission.destination_id}",
        message_id=f"deliver:{submission.id}",
        envelope={
            "stage": "deliver",
            "submissionId": submission.id,
            "destinationId": submission.destination_id,
        },
    )


class DatabaseOutbox:
    """``gateway.delivery.relay.OutboxSource`` on the gateway's database."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], topology: Topology, *, lease_seconds: float = 15.0
    ) -> None:
        self.sessions = sessions
        self._topology = topology
        self._lease = dt.timedelta(seconds=lease_seconds)

    async def fetch_pending(self, limit: int) -> list[OutboxRow]:
        now = utcnow()
        async with self.sessions.begin() as session:
            candidates = (
                select(Outbox.id)
                .where(
                    Outbox.sent_at.is_(None), or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now)
                )
                .order_by(Outbox.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            claimed = await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(candidates.scalar_subquery()))
                .values(claimed_until=now + self._lease, attempts=Outbox.attempts + 1)
                .returning(Outbox.id, Outbox.queue, Outbox.message_id, Outbox.envelope)
            )
            rows = [OutboxRow(r.id, self._topology.route(r.queue), r.message_id, r.envelope) for r in claimed]
        return sorted(rows, key=lambda row: row.id)

    async def mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.sessions.begin() as session:
            await session.execute(
                update(Outbox).where(Outbox.id.in_(ids)).values(sent_at=utcnow(), claimed_until=None)
            )

    async def release(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.sessions.begin() as session:
            await session.execute(
                update(Outbox).where(Outbox.id.in_(ids), Outbox.sent_at.is_(None)).values(claimed_until=None)
            )

    async def pending(self) -> int:
        """Rows not yet confirmed by the broker (for health and metrics)."""
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None))
            )
            return int(count or 0)
