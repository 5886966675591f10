"""Paused destinations: while ``destinations.paused_at`` is set, the deliver stage calls no
adapter for the destination; its messages wait (no attempt spent) and go on after the resume.
A database flag, so every worker process sees it at its next message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.audit import Entry, acting, record
from gateway.store.db import create_engine
from gateway.store.models import Destination, utcnow

__all__ = ["Pauses", "is_paused"]


async def is_paused(session: AsyncSession, destination_id: str) -> bool:
    """Whether the destination's deliveries are paused."""
    paused = await session.scalar(select(Destination.paused_at).where(Destination.id == destination_id))
    return paused is not None


class Pauses:
    """Pause and resume destinations on ``sessions``, each with the operator's audit entry."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Pauses]:
        """On the database at ``url`` as it is (no migration), closed on exit."""
        engine = create_engine(url)
        try:
            yield cls(async_sessionmaker(engine, expire_on_commit=False))
        finally:
            await engine.dispose()

    async def set(self, destination_id: str, paused: bool, operator: str, why: str) -> bool:
        """Pause or resume; ``False`` if there is no such destination."""
        async with self._sessions.begin() as session:
            acting(session, f"operator:{operator}")
            changed = await session.execute(
                update(Destination)
                .where(Destination.id == destination_id)
                .values(paused_at=utcnow() if paused else None)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            action = "operator.pause" if paused else "operator.resume"
            record(session, Entry(action, destination_id=destination_id, detail={"why": why}))
        return True
