"""Delivery throughput of the gateway against raw aio-pika, measured in one run.

Publishing (persistent, publisher confirms, durable quorum queues):

* raw aio-pika, one publish at a time, each confirm awaited (the latency-bound floor);
* raw aio-pika, all N publishes in flight at once, then await all (**the baseline**);
* raw aio-pika in windows of ``--batch-size`` (the relay's batch size, no database);
* ``AmqpBroker.publish_many`` in windows of ``--batch-size`` (the gateway's publisher, no database);
* the gateway's ``Relay`` draining a ``DatabaseOutbox`` of N pre-inserted rows (SQLite in a temp
  dir, or a PostgreSQL database created for the run and dropped) into ``AmqpBroker``, timed until
  the last row is marked sent.

Consuming (manual ack, same prefetch, same N messages of the same shape):

* raw aio-pika ``queue.consume`` with ``await message.ack()`` (the baseline);
* ``AmqpBroker.consume`` with a no-op handler returning ``DONE``, gateway logging at
  ``info`` (JSON to /dev/null, one ``delivery_settled`` line per message, as ``xgw serve`` logs);
* the same at log level ``warning`` (to show what the per-message log line costs).

Every message is the relay's real claim check (``{"stage":"validate","submissionId":…}``, about
70 bytes) with the same properties the gateway sets. Each scenario reports msgs/s (median and
min–max over ``--runs``), the ratio to its baseline, client CPU per message (``process_time``,
which includes the aiosqlite thread) and, when readable from ``/proc``, the broker's (beam.smp)
and PostgreSQL's CPU per message. Queues and exchanges live under a uuid namespace and are
deleted at the end, also on error; so are the temp dir and the PostgreSQL database.

    python bench/delivery_rates.py --messages 3000 --runs 3 --database sqlite
    python bench/delivery_rates.py --messages 3000 --runs 3 --database postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import asyncpg  # type: ignore[import-untyped]
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.broker import DONE, Delivery, Outcome, OutgoingMessage, Topology
from gateway.broker.amqp import AmqpBroker
from gateway.broker.base import ATTEMPT_HEADER, CONTENT_TYPE, encode_envelope
from gateway.logging import configure_logging
from gateway.stages.relay import Relay
from gateway.store.db import open_database
from gateway.store.models import Outbox
from gateway.store.outbox import DatabaseOutbox, OutboxRow

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TIMEOUT = 120.0  # a scenario that has not finished by then is a failure, not a slow result

Msgs = list[tuple[str, dict[str, str]]]  # (message_id, envelope)
Sessions = async_sessionmaker[AsyncSession]


# -- CPU accounting -------------------------------------------------------------------------------


def _proc_pids(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


def _pg_pids(database: str) -> list[int]:
    """PostgreSQL processes working for ``database``: its client backends plus the shared
    auxiliary ones (WAL writer, checkpointer, ...), not other databases' backends."""
    pids = []
    for pid in _proc_pids("postgres"):
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "(" not in title or f" {database} " in title:
                pids.append(pid)
    return pids


def _proc_cpu(pids: list[int]) -> dict[int, float]:
    """utime + stime in seconds of each pid still alive (read-only /proc access)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


Snapshot = tuple[float, dict[int, float], dict[int, float], float]


class CpuMeter:
    """Client CPU (this process, all threads), broker CPU, PostgreSQL CPU, and everything else
    (other processes on the machine) over one scenario."""

    def __init__(self, postgres: str | None) -> None:
        self.beam = _proc_pids("beam.smp")
        self.postgres = postgres  # database name, or None

    def snapshot(self) -> Snapshot:
        pg = _proc_cpu(_pg_pids(self.postgres)) if self.postgres else {}
        return time.process_time(), _proc_cpu(self.beam), pg, _busy_seconds()

    @staticmethod
    def delta(start: Snapshot, end: Snapshot) -> tuple[float, float | None, float | None, float]:
        def diff(a: dict[int, float], b: dict[int, float]) -> float | None:
            if not b:
                return None
            return sum(v - a.get(pid, 0.0) for pid, v in b.items())  # new backends count from 0

        client, broker, pg = end[0] - start[0], diff(start[1], end[1]), diff(start[2], end[2])
        other = (end[3] - start[3]) - client - (broker or 0.0) - (pg or 0.0)
        return client, broker, pg, max(other, 0.0)


@dataclass
class Sample:
    rate: float  # msgs/s
    client_us: float  # CPU µs per message
    broker_us: float | None
    pg_us: float | None
    other_cores: float  # CPU used by other processes on the machine during the scenario, in cores


@dataclass
class Scenario:
    key: str
    label: str
    baseline: str | None  # key of the scenario it is compared with
    samples: list[Sample] = field(default_factory=list)


async def measure(meter: CpuMeter, n: int, body: Callable[[], Awaitable[float | None]]) -> Sample:
    """Run ``body`` (which returns its own end time, or None for "when it returned")."""
    cpu0 = meter.snapshot()
    start = time.perf_counter()
    end = await asyncio.wait_for(body(), TIMEOUT)
    end = end or time.perf_counter()
    cpu = CpuMeter.delta(cpu0, meter.snapshot())

    def per(seconds: float | None) -> float | None:
        return None if seconds is None else seconds / n * 1e6

    return Sample(n / (end - start), cpu[0] / n * 1e6, per(cpu[1]), per(cpu[2]), cpu[3] / (end - start))


async def quiesce(meter: CpuMeter, limit: float = 3.0) -> None:
    """Wait (at most ``limit`` s) until the broker is idle for 100 ms, so that a scenario does not
    pay for the previous one's background work (quorum-queue log writes, snapshots after a drain)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = sum(_proc_cpu(meter.beam).values())
        await asyncio.sleep(0.1)
        if sum(_proc_cpu(meter.beam).values()) - before <= 0.01:  # at most one 10 ms tick
            return


# -- the workload ---------------------------------------------------------------------------------


def claim_checks(n: int) -> Msgs:
    """(message_id, envelope) pairs shaped like intake's outbox rows."""
    sids = [str(uuid.uuid4()) for _ in range(n)]
    return [(f"validate:{sid}", {"stage": "validate", "submissionId": sid}) for sid in sids]


def raw_message(message_id: str, envelope: dict[str, str]) -> aio_pika.Message:
    """Byte for byte what the gateway's Publisher sends."""
    return aio_pika.Message(
        encode_envelope(envelope),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        content_type=CONTENT_TYPE,
        headers={ATTEMPT_HEADER: 1},
    )


async def queue_depth(channel: AbstractChannel, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def raw_publish_one_by_one(channel: AbstractChannel, queue: str, msgs: Msgs) -> None:
    for mid, env in msgs:
        await channel.default_exchange.publish(raw_message(mid, env), queue, mandatory=True)


async def raw_publish_windowed(channel: AbstractChannel, queue: str, msgs: Msgs, window: int) -> None:
    for i in range(0, len(msgs), window):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(raw_message(mid, env), queue, mandatory=True)
                for mid, env in msgs[i : i + window]
            )
        )


async def raw_consume(connection: AbstractConnection, queue_name: str, n: int, prefetch: int) -> float:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(queue_name, ensure=True)
    done, count, end = asyncio.Event(), 0, 0.0

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal count, end
        await message.ack()
        count += 1
        if count == n:
            end = time.perf_counter()
            done.set()

    tag = await queue.consume(on_message)
    await done.wait()
    await queue.cancel(tag)
    await channel.close()
    return end


async def gateway_consume(broker: AmqpBroker, queue_name: str, n: int, prefetch: int) -> float:
    done, count, end = asyncio.Event(), 0, 0.0

    async def handler(_delivery: Delivery) -> Outcome:
        nonlocal count, end
        count += 1
        if count == n:
            end = time.perf_counter()
            done.set()
        return DONE

    consumer = await broker.consume(queue_name, handler, prefetch=prefetch)
    await done.wait()
    await consumer.stop()  # drains in-flight handlers, so the last acks are sent
    return end


@dataclass
class RelayTrace:
    """Wall time the relay spent in each call of its source, per batch."""

    fetch: list[float] = field(default_factory=list)
    mark: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # client CPU of fetch_pending + mark_sent
    batches: list[tuple[float, float]] = field(default_factory=list)  # (fetch start, mark end)


class TimedOutbox:
    """Delegates to a ``DatabaseOutbox``; times its round trips and signals when N rows are sent."""

    def __init__(self, inner: DatabaseOutbox, n: int, trace: RelayTrace) -> None:
        self.inner, self.n, self.trace = inner, n, trace
        self.sent, self.done, self.end = 0, asyncio.Event(), 0.0
        self._batch_start = self._fetch_cpu = 0.0

    async def fetch_pending(self, limit: int) -> list[OutboxRow]:
        t0, c0 = time.perf_counter(), time.process_time()
        rows = await self.inner.fetch_pending(limit)
        if rows:
            self._batch_start, self._fetch_cpu = t0, time.process_time() - c0
            self.trace.fetch.append(time.perf_counter() - t0)
        return rows

    async def release(self, ids: list[int]) -> None:
        await self.inner.release(ids)

    async def mark_sent(self, ids: list[int]) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        await self.inner.mark_sent(ids)
        t1 = time.perf_counter()
        self.trace.cpu.append(self._fetch_cpu + time.process_time() - c0)
        self.trace.mark.append(t1 - t0)
        self.trace.batches.append((self._batch_start, t1))
        self.sent += len(ids)
        if self.sent >= self.n:
            self.end = t1
            self.done.set()


# -- the database ---------------------------------------------------------------------------------


def pg_name(ns: str) -> str:
    return ns.replace("-", "_")


@contextlib.asynccontextmanager
async def database(kind: str, work: Path, ns: str) -> AsyncIterator[tuple[AsyncEngine, Sessions]]:
    """An empty, migrated gateway database; removed on exit."""
    if kind == "sqlite":
        lite, sessions = await open_database(f"sqlite+aiosqlite:///{work / 'bench.db'}")
        try:
            yield lite, sessions
        finally:
            await lite.dispose()
        return
    name = pg_name(ns)
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        engine: AsyncEngine | None = None
        try:
            engine, sessions = await open_database(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
            yield engine, sessions
        finally:
            if engine is not None:
                await engine.dispose()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def fill_outbox(engine: AsyncEngine, sessions: Sessions, msgs: Msgs) -> None:
    async with sessions.begin() as session:
        await session.execute(delete(Outbox))
        await session.execute(
            insert(Outbox), [{"queue": "validate", "message_id": mid, "envelope": env} for mid, env in msgs]
        )
    if engine.dialect.name == "postgresql":  # statistics as autovacuum would have them
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text("VACUUM ANALYZE outbox")
            )


# -- one run --------------------------------------------------------------------------------------

SCENARIOS = [
    ("pub_1by1", "raw aio-pika publish, confirm awaited 1-by-1", "pub_all"),
    ("pub_all", "raw aio-pika publish, all N in flight (BASELINE)", None),
    ("pub_win", "raw aio-pika publish, windows of B (no DB)", "pub_all"),
    ("gw_pubmany", "AmqpBroker.publish_many, windows of B (no DB)", "pub_win"),
    ("relay", "Relay + DatabaseOutbox -> AmqpBroker (rows sent)", "pub_all"),
    ("con_raw", "raw aio-pika consume + ack (BASELINE)", None),
    ("con_gw", "AmqpBroker.consume, no-op handler, log info", "con_raw"),
    ("con_gw_quiet", "AmqpBroker.consume, no-op handler, log warning", "con_raw"),
]


@dataclass
class Bench:
    """What every run needs."""

    n: int
    batch: int
    prefetch: int
    meter: CpuMeter
    connection: AbstractConnection  # raw aio-pika
    channel: AbstractChannel  # raw aio-pika, confirms on
    raw_queue: str
    validate_queue: str
    broker: AmqpBroker
    engine: AsyncEngine
    outbox: DatabaseOutbox
    traces: list[RelayTrace] = field(default_factory=list)


async def one_run(ctx: Bench, scen: dict[str, Scenario]) -> None:
    n, window, prefetch, meter = ctx.n, ctx.batch, ctx.prefetch, ctx.meter
    channel, raw_q, process_q, broker = ctx.channel, ctx.raw_queue, ctx.validate_queue, ctx.broker

    async def record(key: str, body: Callable[[], Awaitable[float | None]]) -> None:
        await quiesce(meter)
        scen[key].samples.append(await measure(meter, n, body))

    async def purge(name: str) -> None:
        await (await channel.get_queue(name, ensure=False)).purge()

    msgs = claim_checks(n)
    await record("pub_1by1", lambda: raw_publish_one_by_one(channel, raw_q, msgs))
    await purge(raw_q)

    msgs = claim_checks(n)
    await record("pub_all", lambda: raw_publish_windowed(channel, raw_q, msgs, n))
    assert await queue_depth(channel, raw_q) == n
    await record("con_raw", lambda: raw_consume(ctx.connection, raw_q, n, prefetch))
    assert await queue_depth(channel, raw_q) == 0

    msgs = claim_checks(n)
    await record("pub_win", lambda: raw_publish_windowed(channel, raw_q, msgs, window))
    await purge(raw_q)

    msgs = claim_checks(n)

    async def publish_many() -> None:
        for i in range(0, n, window):
            batch = [OutgoingMessage(process_q, mid, env) for mid, env in msgs[i : i + window]]
            confirmed = await broker.publish_many(batch)
            assert len(confirmed) == len(batch)

    await record("gw_pubmany", publish_many)
    await purge(process_q)

    # Relay: N committed rows, then the relay as the gateway runs it, until the last is marked sent.
    msgs = claim_checks(n)
    await fill_outbox(ctx.engine, ctx.outbox.sessions, msgs)
    trace = RelayTrace()
    source = TimedOutbox(ctx.outbox, n, trace)
    relay = Relay(source, broker, batch_size=window, poll_interval=1.0)

    async def drain() -> float:
        relay.start()
        await source.done.wait()
        return source.end

    try:
        await record("relay", drain)
    finally:
        await relay.stop()
    assert await ctx.outbox.pending() == 0, "rows left pending"
    assert await queue_depth(channel, process_q) == n
    ctx.traces.append(trace)

    # The relay's messages are what the gateway consumer reads.
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    await record("con_gw", lambda: gateway_consume(broker, process_q, n, prefetch))
    assert await queue_depth(channel, process_q) == 0
    await raw_publish_windowed(channel, process_q, claim_checks(n), window)
    root.setLevel(logging.WARNING)
    try:
        await record("con_gw_quiet", lambda: gateway_consume(broker, process_q, n, prefetch))
    finally:
        root.setLevel(logging.INFO)
    assert await queue_depth(channel, process_q) == 0


# -- report ---------------------------------------------------------------------------------------


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def report(
    args: argparse.Namespace, scen: dict[str, Scenario], traces: list[RelayTrace], elapsed: float
) -> None:
    rates = {k: statistics.median(s.rate for s in sc.samples) for k, sc in scen.items()}
    pg = args.database == "postgres"
    head = [
        "scenario",
        "msgs/s median (min–max)",
        "ratio, per run: median (min–max)",
        "client CPU µs/msg",
        "broker CPU µs/msg",
    ]
    if pg:
        head.append("PostgreSQL CPU µs/msg")
    head.append("other load (cores)")
    rows = []
    for key, sc in scen.items():
        r = [s.rate for s in sc.samples]
        label = sc.label.replace("windows of B", f"windows of {args.batch_size}")
        ratio = "1.00"
        if sc.baseline:  # per run, so that load shared by both scenarios of a run cancels out
            q = [s.rate / b.rate for s, b in zip(sc.samples, scen[sc.baseline].samples, strict=True)]
            ratio = f"{statistics.median(q):.2f} ({min(q):.2f}–{max(q):.2f}) of {sc.baseline}"
        row = [
            f"{label} `{key}`",
            f"{fmt(rates[key])} ({fmt(min(r))}–{fmt(max(r))})",
            ratio,
            fmt(med([s.client_us for s in sc.samples])),
            fmt(med([s.broker_us for s in sc.samples])),
        ]
        if pg:
            row.append(fmt(med([s.pg_us for s in sc.samples])))
        row.append(fmt(med([s.other_cores for s in sc.samples]), 2))
        rows.append(row)
    print()
    print(
        f"delivery rates: {args.messages} msgs x {args.runs} runs, database {args.database}, relay batch "
        f"{args.batch_size}, prefetch {args.prefetch}, loop {args.loop}, {os.cpu_count()} cores, "
        f"{elapsed:.0f} s"
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")

    # Where the relay's time goes, per batch (median over all batches of all runs).
    all_fetch = [x for t in traces for x in t.fetch]
    all_mark = [x for t in traces for x in t.mark]
    all_batch = [b - a for t in traces for a, b in t.batches]
    all_cpu = [x for t in traces for x in t.cpu]
    fetch, mark, batch, db_cpu = (
        statistics.median(v) * 1e3 for v in (all_fetch, all_mark, all_batch, all_cpu)
    )
    publish = batch - fetch - mark
    raw_batch = args.batch_size / rates["pub_win"] * 1e3
    gw_batch = args.batch_size / rates["gw_pubmany"] * 1e3
    print()
    print(
        f"relay, per batch of {args.batch_size} (median ms): fetch_pending (claim UPDATE…RETURNING) "
        f"{fetch:.2f} + publish_many {publish:.2f} + mark_sent {mark:.2f} = {batch:.2f}; client CPU of "
        f"fetch_pending + mark_sent {db_cpu:.2f} ms (SQLAlchemy + driver)"
    )
    print(
        f"  same batch without the DB: AmqpBroker.publish_many {gw_batch:.2f} ms, raw aio-pika "
        f"{raw_batch:.2f} ms"
    )
    parts = {
        "DB round trips (fetch_pending + mark_sent)": fetch + mark,
        "publishing the batch beyond raw aio-pika (gateway wrapper, contention)": publish - raw_batch,
    }
    largest = max(parts, key=parts.__getitem__)
    print(
        f"  overhead of a relay batch over the raw windowed publish: {batch - raw_batch:.2f} ms; "
        f"largest part: {largest}, {parts[largest]:.2f} ms ({parts[largest] / batch:.0%} of the batch)"
    )
    cpu = {
        k: statistics.median(s.client_us for s in scen[k].samples)
        for k in ("con_raw", "con_gw", "con_gw_quiet")
    }
    print(
        f"consume, client CPU µs per message: raw {cpu['con_raw']:.0f}, gateway {cpu['con_gw']:.0f} = "
        f"raw + consumer wrapper {cpu['con_gw_quiet'] - cpu['con_raw']:.0f} + info log line "
        f"{cpu['con_gw'] - cpu['con_gw_quiet']:.0f}"
    )


async def amain(args: argparse.Namespace) -> None:
    ns = f"xgwbench-{uuid.uuid4().hex[:12]}"
    topology = Topology(namespace=ns)
    raw_queue = f"{ns}.raw"
    work = Path(tempfile.mkdtemp(prefix="xgw-delivery-bench-"))
    started = time.perf_counter()
    connection = await aio_pika.connect(AMQP_URL, client_properties={"connection_name": f"{ns}-raw"})
    broker = AmqpBroker(AMQP_URL, topology, name=f"{ns}-gateway")
    try:
        pub_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await pub_channel.declare_queue(raw_queue, durable=True, arguments={"x-queue-type": "quorum"})
        await broker.declare([])
        async with database(args.database, work, ns) as (engine, sessions):
            scen = {k: Scenario(k, label, base) for k, label, base in SCENARIOS}
            meter = CpuMeter(pg_name(ns) if args.database == "postgres" else None)
            ctx = Bench(
                args.messages,
                args.batch_size,
                args.prefetch,
                meter,
                connection,
                pub_channel,
                raw_queue,
                topology.validate_queue,
                broker,
                engine,
                DatabaseOutbox(sessions, topology.route),
            )
            # Warm-up: connections, channels, the DB pool and the code paths, not measured.
            warm = dataclasses.replace(ctx, n=min(args.messages, 200), traces=[])
            await one_run(warm, {k: Scenario(k, label, base) for k, label, base in SCENARIOS})
            for run in range(args.runs):
                await one_run(ctx, scen)
                print(
                    f"run {run + 1}/{args.runs}: "
                    + ", ".join(f"{k} {sc.samples[-1].rate:,.0f}" for k, sc in scen.items()),
                    file=sys.stderr,
                )
            report(args, scen, ctx.traces, time.perf_counter() - started)
    finally:
        await broker.close()
        await cleanup(topology, raw_queue)
        with contextlib.suppress(Exception):
            await connection.close()
        shutil.rmtree(work, ignore_errors=True)


async def cleanup(topology: Topology, raw_queue: str) -> None:
    """Delete every queue and exchange of the namespace, on a fresh connection."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        for name in [raw_queue, *(q.name for q in topology.queues([]))]:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.close()
        for name in topology.exchanges():
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)
            with contextlib.suppress(Exception):
                await channel.close()
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages per scenario and run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the table shows the median")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batch-size", type=int, default=100, help="relay batch (gateway default 100)")
    parser.add_argument("--prefetch", type=int, default=100, help="consumer prefetch, raw and gateway")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop (uvicorn picks uvloop when installed)",
    )
    args = parser.parse_args()
    for url in (AMQP_URL, PG_ADMIN):
        if urlsplit(url).hostname != "127.0.0.1":
            raise SystemExit(f"refusing to load anything but 127.0.0.1: {url}")
    if args.messages < 1 or args.runs < 1 or args.batch_size < 1 or args.prefetch < 1:
        raise SystemExit("--messages, --runs, --batch-size and --prefetch must be positive")
    # As ``xgw serve`` logs (JSON, info), but to /dev/null so the terminal is not the bottleneck.
    configure_logging("json", "info")
    devnull = open(os.devnull, "w")  # noqa: SIM115
    logging.getLogger().handlers[0].setStream(devnull)  # type: ignore[attr-defined]
    if args.loop == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        runner.run(amain(args))
    devnull.close()


if __name__ == "__main__":
    main()
