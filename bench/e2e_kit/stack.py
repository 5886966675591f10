"""The gateway under test, started as OS processes on 127.0.0.1, and removed again.

* ``embedded``: ``xgw serve`` on a fresh data directory (SQLite, blobs on disk, in-process
  broker), plus a second ``xgw serve`` with ``XGW_RUN_STAGES=false`` on its own data directory
  that only the intake measurement talks to (the first one would validate and deliver in the
  same process while the submit calls are timed).
* ``scale-out``: ``xgw api`` + ``xgw relay`` + ``xgw worker`` × N on a PostgreSQL database created
  for the run and RabbitMQ under a uuid queue namespace; both are dropped at the end. During the
  intake measurement the relay is paused (SIGSTOP), so the workers stay idle.

Both read one TOML file: a tenant with one destination whose XBau service is bound to the
``demo-ok`` adapter (accepts at once), and one sender client. Keys are generated up front.
Any ``XGW_*`` variable in the bench's own environment reaches the processes too, unless the
bench sets it (database, broker, namespace, directories, logging).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret

DESTINATION = "6f1d3a52-0c3b-4d44-9d1e-5be0c4b1e001"
SERVICE = "urn:de:fim:leika:leistung:99066006001000"
XBAU = "urn:xoev-de:bmk:standard:xbau_2.6"
CLIENT_ID = "bench-portal"
CLIENT_SECRET = "bench-secret-0123456789abcdef0123456789"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
XGW = Path(sys.executable).with_name("xgw")
STARTUP_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_keys(key_dir: Path) -> None:
    """RSA-4096 keys of the destination (encryption, signing) and of the gateway (signing)."""
    store = KeyStore(key_dir)
    store.generate(DESTINATION, "encryption")
    store.generate(DESTINATION, "signing")
    store.generate("gateway", "signing")


def write_config(path: Path) -> None:
    """One tenant, one destination (XBau → ``demo-ok``), one client allowed to send to it."""
    service = {
        "identifier": SERVICE,
        "name": "Baugenehmigung",
        "regions": ["064350014014"],
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
        "adapter": {"name": "demo-ok"},
    }
    destination = {"id": DESTINATION, "name": "Bauamt (bench)", "services": [service]}
    lines = [
        "[[tenants]]",
        'id = "bench"',
        'name = "Benchstadt"',
        f"destinations = [{_inline(destination)}]",
        "",
        "[[clients]]",
        f"id = {json.dumps(CLIENT_ID)}",
        f"secret_hash = {json.dumps(hash_secret(CLIENT_SECRET))}",
        f"destinations = [{json.dumps(DESTINATION)}]",
        "",
    ]
    path.write_text("\n".join(lines))


def _inline(value: object) -> str:
    """A TOML inline value for the str/list/dict shapes of :func:`write_config`."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


@dataclass
class Proc:
    """One process this bench started (its own session, so Ctrl-C reaches only the bench)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self, grace: float = 20.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def pause(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGCONT)


def spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Proc:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own commands
            argv,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    return Proc(name, popen, log)


async def wait_healthy(proc: Proc, url: str, path: str = "/health") -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{proc.name} not healthy within {STARTUP_SECONDS:.0f}s:\n{proc.tail()}")


async def wait_logged(proc: Proc, marker: str = '"pipeline_started"') -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while marker not in proc.log.read_text(errors="replace"):
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not log {marker} within {STARTUP_SECONDS:.0f}s")
        await asyncio.sleep(0.1)


@dataclass
class Stack:
    """A started gateway: where senders go, where the intake measurement goes, its processes."""

    kind: str  # "embedded" or "scale-out"
    root: Path
    workers: int = 1
    base_url: str = ""
    intake_url: str = ""
    procs: list[Proc] = field(default_factory=list)  # measured: CPU, peak RSS
    intake_procs: list[Proc] = field(default_factory=list)  # the process the intake phase measures
    database: str | None = None  # PostgreSQL database name (scale-out)
    namespace: str | None = None  # RabbitMQ queue prefix (scale-out)

    @property
    def database_dsn(self) -> str | None:
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{self.database}" if self.database else None

    def _env(self, data_dir: Path, port: int) -> dict[str, str]:
        env = {
            "XGW_CONFIG": str(self.root / "xgw.toml"),
            "XGW_DATA_DIR": str(data_dir),
            "XGW_KEY_DIR": str(self.root / "keys"),
            "XGW_LOG_FORMAT": "json",
            "XGW_BASE_URL": f"http://127.0.0.1:{port}",
        }
        if self.kind == "scale-out":
            assert self.database_dsn and self.namespace
            env["XGW_DATABASE_URL"] = self.database_dsn.replace("postgresql://", "postgresql+asyncpg://")
            env["XGW_AMQP_URL"] = AMQP_URL
            env["XGW_DELIVERY__NAMESPACE"] = self.namespace
        return env

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_keys(self.root / "keys")
        write_config(self.root / "xgw.toml")
        if self.kind == "embedded":
            await self._start_embedded()
        else:
            await self._start_scale_out()

    async def _start_embedded(self) -> None:
        port, intake_port = free_port(), free_port()
        serve = spawn(
            "serve",
            [str(XGW), "serve", "--host", "127.0.0.1", "--port", str(port)],
            self._env(self.root / "data", port),
            self.root,
        )
        self.procs.append(serve)
        intake_env = {**self._env(self.root / "intake-data", intake_port), "XGW_RUN_STAGES": "false"}
        intake = spawn(
            "serve-intake-only",
            [str(XGW), "serve", "--host", "127.0.0.1", "--port", str(intake_port)],
            intake_env,
            self.root,
        )
        self.intake_procs.append(intake)
        self.base_url, self.intake_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{intake_port}"
        await wait_healthy(serve, self.base_url)
        await wait_healthy(intake, self.intake_url)

    async def _start_scale_out(self) -> None:
        import asyncpg

        self.database = f"xgwbench_{uuid.uuid4().hex[:12]}"
        self.namespace = f"xgwbench-{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        port = free_port()
        env = self._env(self.root / "data", port)
        api = spawn("api", [str(XGW), "api", "--host", "127.0.0.1", "--port", str(port)], env, self.root)
        self.procs.append(api)
        self.intake_procs.append(api)
        self.base_url = self.intake_url = f"http://127.0.0.1:{port}"
        await wait_healthy(api, self.base_url)  # migrations run once, before the stages start
        relay = spawn("relay", [str(XGW), "relay"], env, self.root)
        workers = [
            spawn(f"worker{n}", [str(XGW), "worker"], env, self.root) for n in range(1, self.workers + 1)
        ]
        self.procs += [relay, *workers]
        for proc in (relay, *workers):
            await wait_logged(proc)

    def relay(self) -> Proc | None:
        return next((p for p in self.procs if p.name == "relay"), None)

    def pause_background(self) -> None:
        """Scale-out: stop the relay, so submit calls are timed without the stages running."""
        if (relay := self.relay()) is not None:
            relay.pause()

    def resume_background(self) -> None:
        if (relay := self.relay()) is not None:
            relay.resume()

    def check_alive(self) -> None:
        for proc in (*self.procs, *self.intake_procs):
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited during the benchmark:\n{proc.tail()}")

    async def stop(self, keep: bool = False) -> None:
        """Stop every process, drop the database and the queues, remove the directory."""
        self.resume_background()
        for proc in {id(p): p for p in (*self.procs, *self.intake_procs)}.values():
            proc.stop()
        try:
            if self.namespace:
                await _delete_topology(self.namespace)
        finally:
            if self.database:
                import asyncpg

                admin = await asyncpg.connect(PG_ADMIN, timeout=5)
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                finally:
                    await admin.close()
            if not keep:
                shutil.rmtree(self.root, ignore_errors=True)


async def _delete_topology(namespace: str) -> None:
    """Delete every queue and exchange the gateway may have declared under ``namespace``."""
    import aio_pika

    from gateway.broker import Topology

    topology = Topology(namespace=namespace)
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for spec in topology.queues((DESTINATION,)):
            await channel.queue_delete(spec.name)
        for exchange in topology.exchanges():
            await channel.exchange_delete(exchange)
