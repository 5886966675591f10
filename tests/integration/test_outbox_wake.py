"""The relay wakes on commit, not at its poll: an outbox row committed in this process wakes it
after the commit, one committed by another engine reaches it through PostgreSQL's
``LISTEN/NOTIFY``, also after its listening connection was killed. Every relay here polls only
every 30 s, so a row published within a few seconds was published because of a wake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.broker import MemoryBroker, Topology
from gateway.stages.relay import BatchResult, Relay
from gateway.store.db import open_database
from gateway.store.listen import OutboxListener
from gateway.store.models import Outbox
from gateway.store.outbox import DatabaseOutbox, add_outbox, wake_on_commit
from tests.eventually import eventually

LONG_POLL = 30.0
on_postgres = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def row(n: int) -> Outbox:
    return Outbox(queue="validate", message_id=f"m{n}", envelope={"n": n})


async def commit_rows(sessions: async_sessionmaker[AsyncSession], *numbers: int) -> None:
    async with sessions.begin() as session:
        add_outbox(session, *(row(n) for n in numbers))


class CountingRelay(Relay):
    """A relay that counts its finished rounds (after one it is asleep until woken or polled)."""

    rounds = 0

    async def run_once(self) -> BatchResult:
        result = await super().run_once()
        self.rounds += 1
        return result


@dataclass
class RelayProcess:
    """What a relay process holds: its own engine, the relay, the broker, the listener."""

    engine: AsyncEngine
    outbox: DatabaseOutbox
    relay: CountingRelay
    listener: OutboxListener


@pytest.fixture
async def relay_process(database_url: str) -> AsyncIterator[RelayProcess]:
    """A relay on its own engine with a 30 s poll and a listener, asleep after its first round."""
    engine, sessions = await open_database(database_url)
    broker = MemoryBroker(Topology(namespace="t"))
    await broker.declare([])
    outbox = DatabaseOutbox(sessions, broker.topology.route)
    relay = CountingRelay(outbox, broker, poll_interval=LONG_POLL)
    listener = OutboxListener(engine, relay.notify, backoff=(0.1, 1.0))
    listener.start()
    await eventually(lambda: listener.listening, within=10, what="the listener listening")
    relay.start()
    await eventually(lambda: relay.rounds >= 1, within=10, what="the relay's first round")
    try:
        yield RelayProcess(engine, outbox, relay, listener)
    finally:
        await listener.stop()
        await relay.stop()
        await broker.close()
        await engine.dispose()


async def published(process: RelayProcess) -> bool:
    return await process.outbox.pending() == 0


async def test_a_commit_with_outbox_rows_wakes_this_process_and_a_rollback_does_not(
    database_url: str,
) -> None:
    engine, sessions = await open_database(database_url)
    woken: list[int] = []
    wake_on_commit(sessions, lambda: woken.append(1))
    try:
        async with sessions() as session:
            add_outbox(session, row(1))
            await session.flush()
            await session.rollback()
            assert woken == []
            async with session.begin():
                await session.scalar(select(func.count()).select_from(Outbox))
            assert woken == []  # the rolled back rows are forgotten
            async with session.begin():
                add_outbox(session, row(2), row(3))
            assert woken == [1]  # once per commit
        await commit_rows(sessions, 4)
        assert woken == [1, 1]
    finally:
        await engine.dispose()


@on_postgres
@pytest.mark.postgres
async def test_a_row_committed_by_another_engine_is_published_long_before_the_poll(
    database_url: str, relay_process: RelayProcess
) -> None:
    writer, sessions = await open_database(database_url)  # as the API process would
    try:
        async with sessions() as session:  # an open transaction sends nothing yet
            add_outbox(session, row(1))
            await session.flush()
            await asyncio.sleep(0.3)  # lets time pass to show that nothing happens
            assert relay_process.relay.rounds == 1
            await session.commit()
        await eventually(lambda: published(relay_process), within=2, what="the row published")
        assert relay_process.relay.rounds >= 2
    finally:
        await writer.dispose()


@on_postgres
@pytest.mark.postgres
async def test_the_listener_reconnects_after_its_backend_is_killed_and_still_wakes_the_relay(
    database_url: str, relay_process: RelayProcess
) -> None:
    listener = relay_process.listener
    killed = listener.backend_pid
    writer, sessions = await open_database(database_url)
    try:
        async with writer.connect() as connection:
            terminated = await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        assert terminated is True
        await eventually(
            lambda: listener.listening and listener.backend_pid != killed,
            within=5,
            what="the listener on a new connection",
        )
        rounds = relay_process.relay.rounds
        await commit_rows(sessions, 1, 2)
        await eventually(lambda: published(relay_process), within=2, what="the rows published")
        assert relay_process.relay.rounds > rounds
        assert listener.connects == 2
    finally:
        await writer.dispose()
