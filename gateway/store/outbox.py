"""The outbox table as the relay's source: claim a batch, mark what the broker confirmed.

Rows name a logical route (``validate``, ``callbacks``, ``deliver.<destination>``, written by
``gateway.routing``); ``resolve`` (the broker topology's ``route``) turns it into the queue name
of this deployment's namespace.

A relay claims pending rows with a short lease (``claimed_until``), so several relays can run at
once without publishing the same rows in parallel: on PostgreSQL the claim skips rows another
relay is claiming (``FOR UPDATE SKIP LOCKED``); SQLite has a single writer anyway. A relay that
dies before ``mark_sent`` leaves its rows to be claimed again when the lease runs out; the
consumers' idempotency absorbs the duplicate publish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.models import Outbox, utcnow


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending outbox row: publish ``envelope`` to ``queue`` as ``message_id``."""

    id: int
    queue: str
    message_id: str
    envelope: Mapping[str, Any]


class OutboxSource(Protocol):
    """The outbox as the relay sees it (implemented here with ``SELECT … FOR UPDATE SKIP LOCKED``)."""

    async def fetch_pending(self, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows not yet marked sent, oldest first."""
        ...

    async def mark_sent(self, ids: list[int]) -> None:
        """Mark these rows sent (their publish was confirmed)."""
        ...

    async def release(self, ids: list[int]) -> None:
        """Give these fetched rows back unsent (publish failed or deferred), so the next round
        may take them at once."""
        ...


class DatabaseOutbox:
    """:class:`OutboxSource` on the gateway's database; ``resolve`` maps a route to its queue."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        resolve: Callable[[str], str],
        *,
        lease_seconds: float = 15.0,
    ) -> None:
        self.sessions = sessions
        self._resolve = resolve
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
            rows = [OutboxRow(r.id, self._resolve(r.queue), r.message_id, r.envelope) for r in claimed]
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
