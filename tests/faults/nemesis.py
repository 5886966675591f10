"""The faults: broker stop, worker SIGKILL mid-delivery, relay SIGKILL between confirm and mark-sent,
a worker's broker connection cut again and again while its vendor calls are in flight, every
PostgreSQL connection reset (:class:`DatabaseLink`), every broker connection stalled
(:class:`StallingLink`), and the blob disk filled up (:func:`fill_disk`)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tests.faults.checker import rabbitmqctl
from tests.faults.cluster import CountingVendor, GatewayCluster, Proc
from tests.integration.delivery.conftest import TcpProxy


async def until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nemesis: no {what} within {within}s")
        await asyncio.sleep(0.02)


@dataclass
class BrokerState:
    """Set while a test may have left RabbitMQ's app stopped (the fixtures restart it then)."""

    stopped: bool = False


BROKER = BrokerState()


async def stop_broker(seconds: float) -> str:
    """``rabbitmqctl stop_app``, wait ``seconds``, ``start_app`` (always, even if cancelled or
    failed); returns how long each step took."""
    started = time.monotonic()
    stopped = started
    BROKER.stopped = True
    try:
        await rabbitmqctl("stop_app")
        stopped = time.monotonic()
        await asyncio.sleep(seconds)
    finally:
        restart = time.monotonic()
        await rabbitmqctl("start_app")
        await rabbitmqctl("await_startup")
        BROKER.stopped = False
    done = time.monotonic()
    return (
        f"stop_app {stopped - started:.1f}s, down {restart - stopped:.1f}s, "
        f"start_app+await_startup {done - restart:.1f}s"
    )


@dataclass
class WorkerKill:
    killed: str
    in_flight_at_kill: int  # vendor requests of the killed worker inside the effect-before-answer window
    replacement: str


async def kill_worker_mid_delivery(
    cluster: GatewayCluster, vendor: CountingVendor, within: float = 60.0
) -> WorkerKill:
    """SIGKILL a worker while the vendor holds at least one of its POSTs (effect recorded, answer
    not yet sent: F12), then start a new worker."""
    vendor_port = urlsplit(vendor.url).port
    assert vendor_port is not None
    victim: list[tuple[Proc, int]] = []

    def caught() -> bool:
        flying = vendor.in_flight_ports()
        if not flying:
            return False
        for proc in cluster.running("worker"):
            mine = proc.vendor_ports(vendor_port) & flying
            if mine:
                victim.append((proc, len(mine)))
                return True
        return False

    await until(caught, within, "worker with a vendor request in flight")
    proc, in_flight = victim[0]
    proc.kill()
    replacement = await cluster.start_stage("worker")
    return WorkerKill(proc.name, in_flight, replacement.name)


TRAPPED = """
SELECT id FROM outbox
WHERE sent_at IS NULL AND claimed_until > now() AND NOT id = ANY($1::int[])
FOR SHARE SKIP LOCKED
"""
MARKING = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE outbox SET sent_at%'
"""


async def trap_relay(
    relay: Proc, dsn: str, within: float = 60.0, hold: float = 0.0, ignore: frozenset[int] = frozenset()
) -> set[int]:
    """Hit the window "published and confirmed, not yet marked sent" (F4) deterministically and
    SIGKILL ``relay`` in it; returns the outbox rows it had published but not marked.

    The trap share-locks outbox rows a relay has claimed but not marked. The relay publishes them
    (no database involved), awaits the confirms, and then its ``UPDATE … SET sent_at`` blocks on
    our lock: seeing that UPDATE wait in ``pg_stat_activity`` proves the batch was published and
    confirmed (``mark_sent`` runs only after ``publish_many`` returned). Then: SIGKILL the relay,
    terminate its backend (its transaction never commits), release the lock. The rows stay
    claimed until their lease runs out; then another relay publishes them a second time.
    ``hold`` keeps the lock (and the relay dead) a little longer before returning. Rows in
    ``ignore`` (still leased to a relay killed before) are not trapped: ``relay`` does not own them.
    """
    deadline = time.monotonic() + within
    connection = await asyncpg.connect(dsn)
    monitor = await asyncpg.connect(dsn)  # pg_stat_activity is a per-transaction snapshot
    try:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nemesis: {relay.name} never blocked in mark_sent")
            if not relay.alive():
                raise RuntimeError(f"{relay.name} died on its own:\n{relay.log_text()[-3000:]}")
            transaction = connection.transaction()
            await transaction.start()
            try:
                rows = await connection.fetch(TRAPPED, list(ignore))
                blocked = None
                if rows:
                    wait_until = time.monotonic() + 3.0
                    while time.monotonic() < wait_until and not blocked:
                        blocked = await monitor.fetchval(MARKING)
                        if not blocked:
                            await asyncio.sleep(0.005)
                if blocked:
                    relay.kill()
                    await connection.fetchval("SELECT pg_terminate_backend($1)", blocked)
                    await asyncio.sleep(hold)
                    return {r["id"] for r in rows}
            finally:
                await transaction.rollback()
            await asyncio.sleep(0.005)
    finally:
        await connection.close()
        await monitor.close()


class WorkerLink(TcpProxy):
    """The delivery tests' TCP proxy to RabbitMQ, put between one worker and the broker: cutting
    it drops that worker's broker connection and nothing else (the relay publishes directly)."""

    @property
    def connections(self) -> int:
        """Client connections open through the link."""
        return len(self._writers) // 2


@dataclass
class LinkCuts:
    """What :func:`cut_link_during_vendor_calls` did."""

    done: int = 0
    in_flight: list[int] = field(default_factory=list)  # vendor POSTs in flight at each cut
    fresh: list[int] = field(default_factory=list)  # of those, begun on the connection being cut

    def line(self) -> str:
        return (
            f"cuts={self.done} vendor_posts_in_flight_at_cuts={self.in_flight} "
            f"begun_on_that_link={self.fresh}"
        )


def resubscriptions(worker: Proc, queue: str) -> int:
    """How often ``worker`` logged that its consumer of ``queue`` subscribed again."""
    return sum(
        1
        for line in worker.log_text().splitlines()
        if '"consumer_resubscribed"' in line and f'"{queue}"' in line
    )


async def cut_link_during_vendor_calls(
    link: WorkerLink,
    worker: Proc,
    vendor: CountingVendor,
    queue: str,
    cuts: int,
    hold: float,
    within: float = 60.0,
) -> LinkCuts:
    """Cut ``worker``'s broker connection ``cuts`` times, each time while the vendor holds at least
    one POST (a delivery in flight).

    Each round starts when the worker's consumer of ``queue`` is subscribed again after the
    previous cut: the link is blackholed at once for ``hold`` seconds (the messages the broker
    redelivers on the new subscription, and the worker's acks, stay in the link), then cut. So
    a message is given back again and again while the vendor call it started is still running,
    which is what used to drive submissions past the broker's delivery limit.
    """
    done = LinkCuts()
    subscribed_at = time.monotonic()
    for round_ in range(cuts):
        if not worker.alive():
            raise RuntimeError(f"{worker.name} died:\n{worker.log_text()[-3000:]}")
        back = partial(lambda n: resubscriptions(worker, queue) >= n, round_)
        await until(back, within, f"{worker.name} subscribed to {queue} again")
        if round_:
            subscribed_at = time.monotonic()
        await until(
            lambda: link.connections > 0 and bool(vendor.in_flight_ports()),
            within,
            "a vendor POST in flight and the worker connected",
        )
        link.pause()
        try:
            await asyncio.sleep(hold)  # pacing: what the broker sends now is never acked
            done.in_flight.append(len(vendor.in_flight_ports()))
            done.fresh.append(vendor.in_flight_started_after(subscribed_at))
            await link.cut()
        finally:
            link.resume()
        done.done += 1
    return done


class DatabaseLink(TcpProxy):
    """The TCP proxy, on 127.0.0.1, between the gateway's processes and PostgreSQL (``url`` is the
    database's DSN; :attr:`url` the same DSN through the proxy)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.upstream = (self.upstream[0], urlsplit(url).port or 5432)

    async def reset(self, refuse_for: float) -> int:
        """What a PostgreSQL restart looks like to its clients: every open connection dropped at
        once, new ones refused for ``refuse_for`` seconds. Returns how many were dropped."""
        dropped = len(self._writers) // 2
        self.refusing = True
        try:
            await self.cut()
            await asyncio.sleep(refuse_for)
        finally:
            self.refusing = False
        return dropped


class StallingLink(TcpProxy):
    """The TCP proxy in front of RabbitMQ whose :meth:`pause` stalls every connection: the sockets
    stay open and nothing is forwarded, not even a peer's close, until :meth:`resume`."""

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool = False
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        await self._flowing.wait()  # an end seen while stalled is passed on only afterwards
        writer.close()

    @property
    def connections(self) -> int:
        return len(self._writers) // 2


def logged(procs: list[Proc], event: str) -> int:
    """How many ``event`` lines the processes logged."""
    return sum(p.log_text().count(f'"event": "{event}"') for p in procs)


async def stall_broker(link: StallingLink, procs: list[Proc], at_least: float, within: float = 60.0) -> str:
    """Stall every broker connection through ``link`` for ``at_least`` seconds and until each of
    ``procs`` noticed (logged ``amqp_connection_lost``: its heartbeat timed out), then resume."""
    before = {p.name: logged([p], "amqp_connection_lost") for p in procs}
    connections = link.connections
    started = time.monotonic()
    link.pause()
    try:
        await asyncio.sleep(at_least)
        await until(
            lambda: all(logged([p], "amqp_connection_lost") > before[p.name] for p in procs),
            within,
            "connection loss noticed by every process",
        )
    finally:
        link.resume()
    return f"stalled {connections} broker connections for {time.monotonic() - started:.1f}s"


def fill_disk(directory: Path) -> Path:
    """Write a file into ``directory`` until its file system has no space left; returns it
    (delete it to free the space)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        chunk = 1 << 20
        while chunk >= 512:
            try:
                os.write(fd, b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    return filler
