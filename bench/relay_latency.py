"""Commit → publish latency of the relay in its own process, polling against LISTEN/NOTIFY.

The scale-out stack runs the relay as its own process (``xgw relay``) on PostgreSQL and RabbitMQ.
This script plays the API: it commits outbox rows through ``add_outbox`` (as intake does) on its
own engine at a steady rate, and consumes the relay's queue itself, so the latency of each row is
"its commit returned" → "its message reached a consumer". The relay runs in a child process built
from the gateway's own parts (``DatabaseOutbox``, ``Relay``, ``AmqpBroker``, ``OutboxListener``,
JSON logging at info to /dev/null), once per mode, all modes in the same run:

* ``poll 1 s``: the relay as it was, woken only by its 1 s poll (the API is another process);
* ``poll 0.05 s``: the fast-poll alternative the issue measured;
* ``notify``: LISTEN/NOTIFY with the new 5 s safety-net poll.

For each mode: the relay's CPU and its PostgreSQL backends' CPU while idle (``--idle`` seconds, no
rows), then ``--rows`` rows at ``--rate`` per second; p50/p90/p99/max latency and the relay's CPU
per row. A PostgreSQL database and a uuid queue namespace are created for the run and removed at
the end, also on error.

    python bench/relay_latency.py --rows 150 --rate 25 --idle 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg  # type: ignore[import-untyped]
from aio_pika.abc import AbstractIncomingMessage

from gateway.broker import Topology
from gateway.broker.amqp import AmqpBroker
from gateway.logging import configure_logging
from gateway.stages.relay import Relay
from gateway.store.db import open_database
from gateway.store.listen import OutboxListener
from gateway.store.models import Outbox
from gateway.store.outbox import DatabaseOutbox, add_outbox

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MODES = {"poll 1 s": (1.0, False), "poll 0.05 s": (0.05, False), "notify": (5.0, True)}


# -- the relay process ----------------------------------------------------------------------------


async def relay_process(url: str, namespace: str, poll: float, listen: bool) -> None:
    """What ``xgw relay`` runs, until SIGTERM; prints ``ready`` once it is asleep."""
    engine, sessions = await open_database(url)
    broker = AmqpBroker(AMQP_URL, Topology(namespace=namespace), name=f"{namespace}-relay")
    relay = Relay(DatabaseOutbox(sessions, broker.topology.route), broker, poll_interval=poll)
    listener = OutboxListener(engine, relay.notify) if listen else None
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await broker.declare([])
        relay.start()
        if listener is not None:
            listener.start()
            for _ in range(3000):  # up to 30 s
                if listener.listening:
                    break
                await asyncio.sleep(0.01)
        print("ready", flush=True)
        await stopped.wait()
    finally:
        if listener is not None:
            await listener.stop()
        await relay.stop()
        await broker.close()
        await engine.dispose()


# -- CPU accounting -------------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (those still alive), from /proc."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def backends(database: str) -> list[int]:
    """The PostgreSQL backends serving ``database``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if title.startswith("postgres:") and f" {database} " in title:
                    pids.append(int(entry.name))
    return pids


# -- the API side ---------------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    idle_relay_ms_per_s: float
    idle_pg_ms_per_s: float
    latencies_ms: list[float]
    relay_cpu_ms_per_row: float

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(args: argparse.Namespace, mode: str, url: str, db: str, ns: str, run: int) -> Result:
    poll, listen = MODES[mode]
    engine, sessions = await open_database(url)
    received: dict[str, float] = {}
    complete = asyncio.Event()
    connection = await aio_pika.connect(AMQP_URL)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--child",
        url,
        ns,
        str(poll),
        "listen" if listen else "poll",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"relay did not start: {line!r}")

        def arrived(message: AbstractIncomingMessage) -> None:
            received[message.message_id or ""] = time.perf_counter()
            if len(received) >= args.rows:
                complete.set()

        channel = await connection.channel()
        queue = await channel.get_queue(Topology(namespace=ns).validate_queue)
        await queue.consume(arrived, no_ack=True)  # type: ignore[arg-type]

        await asyncio.sleep(0.5)  # start-up work settles
        pg_before, relay_before, t0 = cpu_seconds(backends(db)), cpu_seconds([child.pid]), time.perf_counter()
        await asyncio.sleep(args.idle)  # lets time pass: what does an idle relay cost?
        idle_s = time.perf_counter() - t0
        idle_relay = (cpu_seconds([child.pid]) - relay_before) / idle_s * 1000
        idle_pg = (cpu_seconds(backends(db)) - pg_before) / idle_s * 1000

        committed: dict[str, float] = {}
        relay_before = cpu_seconds([child.pid])
        start = time.perf_counter()
        for i in range(args.rows):
            await asyncio.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
            message_id = f"r{run}-{mode}-{i}"
            async with sessions.begin() as session:
                add_outbox(session, Outbox(queue="validate", message_id=message_id, envelope={"i": i}))
            committed[message_id] = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), 30)
        relay_cpu = cpu_seconds([child.pid]) - relay_before
        missing = set(committed) - set(received)
        if missing:
            raise RuntimeError(f"{mode}: {len(missing)} rows never arrived")
        latencies = [(received[m] - t) * 1000 for m, t in committed.items()]
        return Result(mode, idle_relay, idle_pg, latencies, relay_cpu / args.rows * 1000)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            await asyncio.wait_for(child.wait(), 30)
        await connection.close()
        await engine.dispose()


async def amain(args: argparse.Namespace) -> None:
    ns = f"xgwbench-{uuid.uuid4().hex[:12]}"
    db = ns.replace("-", "_")
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
    admin = await asyncpg.connect(PG_ADMIN)
    began = time.perf_counter()
    await admin.execute(f'CREATE DATABASE "{db}"')
    results: list[Result] = []
    try:
        await (await open_database(url))[0].dispose()  # migrated once, before any relay starts
        for run in range(args.runs):
            for mode in MODES:
                results.append(await measure(args, mode, url, db, ns, run))
                r = results[-1]
                print(
                    f"run {run + 1} {mode}: p50 {r.pct(0.5):.1f} ms p99 {r.pct(0.99):.1f} ms", file=sys.stderr
                )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        await delete_queues(ns)
    report(args, results, time.perf_counter() - began)


async def delete_queues(ns: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        for spec in Topology(namespace=ns).queues([]):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(spec.name)
        for name in Topology(namespace=ns).exchanges():
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)


def report(args: argparse.Namespace, results: list[Result], elapsed: float) -> None:
    print(
        f"\n{args.rows} rows at {args.rate}/s per mode, idle {args.idle} s, {args.runs} run(s), "
        f"{elapsed:.0f} s; medians over runs\n"
    )
    print("| relay | p50 | p90 | p99 | max | relay CPU idle | PostgreSQL CPU idle | relay CPU per row |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in MODES:
        rs = [r for r in results if r.mode == mode]

        def med(values: list[float]) -> float:
            return statistics.median(values)

        print(
            f"| {mode} | {med([r.pct(0.5) for r in rs]):.1f} ms | {med([r.pct(0.9) for r in rs]):.1f} ms "
            f"| {med([r.pct(0.99) for r in rs]):.1f} ms | {med([max(r.latencies_ms) for r in rs]):.1f} ms "
            f"| {med([r.idle_relay_ms_per_s for r in rs]):.1f} ms/s "
            f"| {med([r.idle_pg_ms_per_s for r in rs]):.1f} ms/s "
            f"| {med([r.relay_cpu_ms_per_row for r in rs]):.2f} ms |"
        )


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        configure_logging("json", "info")  # as ``xgw relay`` logs, to /dev/null
        logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # type: ignore[attr-defined]  # noqa: SIM115
        _, _, url, namespace, poll, kind = sys.argv
        asyncio.run(relay_process(url, namespace, float(poll), kind == "listen"))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=150, help="rows committed per mode and run")
    parser.add_argument("--rate", type=float, default=25.0, help="rows per second")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured per mode")
    parser.add_argument("--runs", type=int, default=1, help="runs (modes interleaved); medians shown")
    args = parser.parse_args()
    if args.rows < 1 or args.rate <= 0 or args.idle <= 0 or args.runs < 1:
        raise SystemExit("--rows, --rate, --idle and --runs must be positive")
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
