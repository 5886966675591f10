"""The database: outbox claims are exclusive while leased, confirmed rows are never fetched again,
and a database that could lose acknowledged commits is refused."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.broker.topology import Topology
from gateway.errors import ConfigError
from gateway.store.db import open_database
from gateway.store.models import Outbox
from gateway.store.outbox import DatabaseOutbox, OutboxRow
from tests.eventually import eventually


async def _fill(url: str, n: int) -> tuple[DatabaseOutbox, AsyncEngine]:
    engine, sessions = await open_database(url)
    async with sessions.begin() as session:
        session.add_all(Outbox(queue="validate", message_id=f"m{i}", envelope={"i": i}) for i in range(n))

    # leases long enough that a loaded machine does not see them run out between two steps
    return DatabaseOutbox(sessions, Topology(namespace="t").route, lease_seconds=2.0), engine


async def test_parallel_relays_never_claim_the_same_row(database_url: str) -> None:
    outbox, engine = await _fill(database_url, 60)
    try:
        batches = await asyncio.gather(*(outbox.fetch_pending(10) for _ in range(8)))
        ids = [row.id for batch in batches for row in batch]
        assert len(ids) == len(set(ids)) == 60
        assert {row.queue for batch in batches for row in batch} == {"t.validate"}
        assert await outbox.fetch_pending(10) == []  # all leased
        await outbox.mark_sent(ids[:50])
        again: list[OutboxRow] = []

        async def unleased() -> bool:  # leases run out: only the unconfirmed rows come back
            again.extend(await outbox.fetch_pending(100))
            return len(again) >= 10

        await eventually(unleased, within=10, what="the unconfirmed rows back after their leases ran out")
        assert sorted(r.id for r in again) == sorted(ids[50:])
        assert await outbox.pending() == 10
        await outbox.release([r.id for r in again[:4]])  # a failed publish gives rows back at once
        assert sorted(r.id for r in await outbox.fetch_pending(100)) == sorted(r.id for r in again[:4])
    finally:
        await engine.dispose()


async def test_a_postgresql_without_durable_commits_is_refused(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        engine, _ = await open_database(database_url)  # SQLite: WAL with synchronous=FULL
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA synchronous")).scalar_one() == 2
        await engine.dispose()
        return
    name = database_url.rsplit("/", 1)[1]
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    await admin.dispose()
    with pytest.raises(ConfigError, match="synchronous_commit"):
        await open_database(database_url)
