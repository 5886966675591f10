"""The outbox table as the relay's source: claim a batch, mark what the broker confirmed.

Rows name a logical route (``validate``, ``callbacks``, ``deliver.<destination>``, written by
``gateway.routing``); ``resolve`` (the broker topology's ``route``) turns it into the queue name
of this deployment's namespace.

A relay claims pending rows with a short lease (``claimed_until``), so several relays can run at
once without publishing the same rows in parallel: on PostgreSQL the claim skips rows another
relay is claiming (``FOR UPDATE SKIP LOCKED``); SQLite has a single writer anyway. A relay that
dies before ``mark_sent`` leaves its rows to be claimed again when the lease runs out; the
consumers' idempotency absorbs the duplicate publish.

Every outbox row is written through :func:`add_outbox`, so the relay hears of it as soon as its
transaction commits, not at its next poll: on PostgreSQL the transaction also sends
``NOTIFY xgw_outbox`` (delivered only on commit, dropped on rollback) to the relays that listen
(``gateway.store.listen``); in the relay's own process :func:`wake_on_commit` calls the relay
after the commit (the only way on SQLite).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from gateway.store.models import Outbox, utcnow

#: the PostgreSQL channel a transaction that wrote outbox rows notifies on commit
OUTBOX_CHANNEL = "xgw_outbox"
_WRITTEN = "xgw.outbox.written"  # session.info: this transaction added outbox rows
_WAKE = "xgw.outbox.wake"  # session.info (from the session factory): this process's relay


def add_outbox(session: AsyncSession, *rows: Outbox) -> None:
    """Add ``rows`` to the session's transaction; when it commits, the relay hears of them at
    once (``NOTIFY`` on PostgreSQL, and this process's relay if :func:`wake_on_commit` registered
    one). Every outbox insert goes through here."""
    if not rows:
        return
    session.add_all(rows)
    sync = session.sync_session
    if _WRITTEN not in sync.info:  # this session's first outbox rows: hook its commits
        event.listen(sync, "before_commit", _announce)
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_rollback", _rolled_back)
    sync.info[_WRITTEN] = True


def wake_on_commit(sessions: async_sessionmaker[AsyncSession], wake: Callable[[], None]) -> None:
    """Call ``wake`` after each commit of a session from ``sessions`` that wrote outbox rows (the
    relay of this process; sessions opened before this call are not affected)."""
    info = dict(sessions.kw.get("info") or {})
    info[_WAKE] = wake
    sessions.configure(info=info)


def _announce(session: Session) -> None:
    if session.info.get(_WRITTEN) and session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")))  # sent on commit, once


def _committed(session: Session) -> None:
    if session.info.get(_WRITTEN):
        session.info[_WRITTEN] = False
        wake: Callable[[], None] | None = session.info.get(_WAKE)
        if wake is not None:
            wake()


def _rolled_back(session: Session) -> None:
    session.info[_WRITTEN] = False


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
        self._engine: AsyncEngine = sessions.kw["bind"]  # Core statements: no ORM work per round
        self._resolve = resolve
        self._lease = dt.timedelta(seconds=lease_seconds)

    async def fetch_pending(self, limit: int) -> list[OutboxRow]:
        now = utcnow()
        async with self._engine.begin() as connection:
            candidates = (
                select(Outbox.id)
                .where(
                    Outbox.sent_at.is_(None), or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now)
                )
                .order_by(Outbox.id)
                .limit(limit)
            )
            if connection.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            claimed = await connection.execute(
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
        async with self._engine.begin() as connection:
            await connection.execute(
                update(Outbox).where(Outbox.id.in_(ids)).values(sent_at=utcnow(), claimed_until=None)
            )

    async def release(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self._engine.begin() as connection:
            await connection.execute(
                update(Outbox).where(Outbox.id.in_(ids), Outbox.sent_at.is_(None)).values(claimed_until=None)
            )

    async def pending(self) -> int:
        """Rows not yet confirmed by the broker (for health and metrics)."""
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None))
            )
            return int(count or 0)
