"""The faults: broker stop, worker SIGKILL mid-delivery, relay SIGKILL between confirm and mark-sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

from tests.faults.checker import rabbitmqctl
from tests.faults.cluster import CountingVendor, GatewayCluster, Proc


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
    return (f"stop_app {stopped - started:.1f}s, down {restart - stopped:.1f}s, "
            f"start_app+await_startup {done - restart:.1f}s")


@dataclass
class WorkerKill:
    killed: str
    in_flight_at_kill: int  # vendor requests of the killed worker inside the effect-before-answer window
    replacement: str


async def kill_worker_mid_delivery(cluster: GatewayCluster, vendor: CountingVendor,
                                   within: float = 60.0) -> WorkerKill:
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


async def trap_relay(relay: Proc, dsn: str, within: float = 60.0, hold: float = 0.0,
                     ignore: frozenset[int] = frozenset()) -> set[int]:
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
