"""Wake the relay when an outbox row commits on PostgreSQL (``LISTEN xgw_outbox``).

Every transaction that writes outbox rows sends ``NOTIFY xgw_outbox`` (see
``gateway.store.outbox.add_outbox``); PostgreSQL delivers it only once that transaction has
committed. :class:`OutboxListener` holds one connection of the engine's pool for itself, listens on
the channel and calls ``wake`` for every notification, so a relay in another process than the
writer publishes within milliseconds instead of at its next poll.

A lost connection (server restart, ``pg_terminate_backend``, a network cut found by the periodic
check) is invalidated and replaced with capped exponential backoff; meanwhile the relay's slow
poll still finds every row. After each (re)connect the listener wakes the relay once, for what
committed while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.outbox import OUTBOX_CHANNEL

log = structlog.get_logger(__name__)


class OutboxListener:
    """Calls ``wake`` whenever a transaction that wrote outbox rows commits (PostgreSQL only)."""

    def __init__(
        self,
        engine: AsyncEngine,
        wake: Callable[[], None],
        *,
        backoff: tuple[float, float] = (0.5, 30.0),
        check_interval: float = 30.0,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        self._engine = engine
        self._wake = wake
        self._backoff = backoff
        self._check_interval = check_interval  #: how often an idle connection is checked
        self._task: asyncio.Task[None] | None = None
        self.listening = False  #: a connection listens right now
        self.connects = 0  #: connections that listened, the first one included
        self.backend_pid: int | None = None  #: the PostgreSQL backend of the listening connection

    def start(self) -> None:
        """Listen in a background task until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-listener")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff[0]
        while True:
            began = loop.time()
            try:
                connection = await self._engine.connect()
            except Exception as exc:
                log.warning("outbox_listener_unavailable", error=repr(exc))
            else:
                try:
                    await self._listen(connection)
                except Exception as exc:
                    log.warning("outbox_listener_failed", error=repr(exc))
                finally:
                    self.listening = False
                    # never back to the pool: the connection still listens (or is dead)
                    with contextlib.suppress(Exception):
                        await asyncio.shield(_discard(connection))
                if loop.time() - began > self._backoff[1]:  # it worked for a while: start over
                    delay = self._backoff[0]
            log.info("outbox_listener_reconnecting", in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _listen(self, connection: AsyncConnection) -> None:
        """Listen on ``connection`` until it is lost."""
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg.Connection
        lost = asyncio.Event()
        driver.add_termination_listener(lambda _connection: lost.set())
        await driver.add_listener(OUTBOX_CHANNEL, self._notified)
        self.listening = True
        self.connects += 1
        self.backend_pid = driver.get_server_pid()
        log.info("outbox_listener_listening", channel=OUTBOX_CHANNEL, backend_pid=self.backend_pid)
        self._wake()  # whatever committed while nobody listened
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._check_interval)
            if lost.is_set() or driver.is_closed():
                break
            try:  # a cut without a FIN is only found by asking
                await asyncio.wait_for(driver.execute("SELECT 1"), min(self._check_interval, 10.0))
            except Exception as exc:
                log.warning("outbox_listener_check_failed", error=repr(exc))
                break
        log.warning("outbox_listener_lost", channel=OUTBOX_CHANNEL)

    def _notified(self, _connection: object, _pid: int, _channel: str, _payload: str) -> None:
        self._wake()


async def _discard(connection: AsyncConnection) -> None:
    await connection.invalidate()
    await connection.close()
