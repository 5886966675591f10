"""The read model for operators: one object that answers every question of ``xgw status``,
``xgw trace``, ``/metrics`` and ``/readyz`` that the database can answer, each in its own read."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.backlog import (
    DestinationBacklog,
    KeyNeed,
    OutboxLag,
    destination_backlogs,
    key_needs,
    outbox_lag,
)
from gateway.store.db import create_engine
from gateway.store.history import History, history_of
from gateway.store.tallies import Tallies, parked_by_queue, tallies

__all__ = ["ReadModel"]


class ReadModel:
    """Reads on ``sessions``; never writes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[ReadModel]:
        """A read model on the database at ``url`` as it is (no migration), closed on exit."""
        engine = create_engine(url)
        try:
            yield cls(async_sessionmaker(engine, expire_on_commit=False))
        finally:
            await engine.dispose()

    async def ping(self) -> None:
        """Ask the database one question; raises what the driver raises."""
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    async def has_schema(self) -> bool:
        """Whether the gateway's tables exist (a gateway has started on this database)."""
        async with self._sessions() as session:
            connection = await session.connection()
            return bool(await connection.run_sync(lambda sync: inspect(sync).has_table("submissions")))

    async def backlogs(self, now: dt.datetime) -> list[DestinationBacklog]:
        async with self._sessions() as session:
            return await destination_backlogs(session, now)

    async def outbox(self) -> list[OutboxLag]:
        async with self._sessions() as session:
            return await outbox_lag(session)

    async def keys(self) -> list[KeyNeed]:
        async with self._sessions() as session:
            return await key_needs(session)

    async def tallies(self) -> Tallies:
        async with self._sessions() as session:
            return await tallies(session)

    async def parked(self) -> dict[str, int]:
        async with self._sessions() as session:
            return await parked_by_queue(session)

    async def history(self, reference: str) -> History | None:
        async with self._sessions() as session:
            return await history_of(session, reference)
