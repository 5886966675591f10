"""The gateway as separate OS processes (``xgw api``, ``xgw relay``, ``xgw worker``) on one
PostgreSQL database and one RabbitMQ namespace, with a vendor endpoint on 127.0.0.1.

Every process reads the same TOML file (tenant, destination, client, adapter binding) and the
same ``XGW_*`` environment (database, broker, namespace, retry policy). Each process logs JSON
lines to its own file; the checker reads the workers' ``delivery_settled`` lines from there.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ACTIVE, LEIKA, XBAU
from tests.unit.adapters.vendor_server import Answer, VendorServer

XGW = Path(sys.executable).parent / "xgw"
VENDOR_SECRET = "fault-vendor-secret-0123456789"
CLIENT_ID = "portal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toml(value: Any) -> str:
    """A tiny TOML writer for inline values (strings, numbers, bools, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def write_config(path: Path, vendor_url: str, secret_hash: str, adapter_timeout: float = 10.0) -> None:
    """One tenant, one destination whose XBau service is bound to the ``http`` adapter (whose
    ``timeout_seconds`` per network operation is ``adapter_timeout``)."""
    service = {
        "identifier": LEIKA,
        "name": "Baugenehmigung",
        "regions": ["064350014014"],
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
        "adapter": {
            "name": "http",
            "options": {"url": vendor_url, "secret": VENDOR_SECRET, "timeout_seconds": adapter_timeout},
        },
    }
    lines = [
        "[[tenants]]",
        'id = "musterstadt"',
        'name = "Musterstadt"',
        f"destinations = {_toml([{'id': ACTIVE, 'name': 'Bauamt', 'services': [service]}])}",
        "",
        "[[clients]]",
        f"id = {_toml(CLIENT_ID)}",
        f"secret_hash = {_toml(secret_hash)}",
        'regions = ["06435"]',
        "",
    ]
    path.write_text("\n".join(lines))


@dataclass(frozen=True)
class PostWindow:
    """One POST as the vendor saw it: from its request line to the end of its handling (the
    answer written, or the client gone), on the monotonic clock of the test process."""

    key: str  # Idempotency-Key ("" when missing)
    started: float
    ended: float
    port: int  # the client's port


def overlapping(windows: list[PostWindow]) -> dict[str, list[tuple[PostWindow, PostWindow]]]:
    """Idempotency-Key → pairs of its POSTs that were at the vendor at the same time."""
    by_key: dict[str, list[PostWindow]] = {}
    for window in windows:
        by_key.setdefault(window.key, []).append(window)
    out: dict[str, list[tuple[PostWindow, PostWindow]]] = {}
    for key, posts in by_key.items():
        posts.sort(key=lambda w: w.started)
        pairs = [(a, b) for i, a in enumerate(posts) for b in posts[i + 1 :] if b.started < a.ended]
        if pairs:
            out[key] = pairs
    return out


class CountingVendor(VendorServer):
    """The deduplicating vendor endpoint, plus: every POST waits ``delay`` seconds after its
    effect is recorded and before it is answered (F12: "vendor effect done, gateway not yet
    acked"), and the client ports of the POSTs inside that window are known, so that a test can
    kill the worker that sent one. Every POST's window (start, end, per ``Idempotency-Key``) is
    recorded in ``windows``, so that a test can tell whether one submission was POSTed twice at
    the same time (see :func:`overlapping`)."""

    def __init__(self, spool: Path, secret: str | None = None, delay: float = 0.0) -> None:
        super().__init__(spool, secret)
        self.delay = delay
        self.in_flight: dict[int, str] = {}  # client port → Idempotency-Key, effect done, unanswered
        self.in_flight_since: dict[int, float] = {}  # client port → when its effect was recorded
        self.windows: list[PostWindow] = []
        self._flight_lock = threading.Lock()
        self._local = threading.local()
        vendor = self
        base = self.httpd.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:  # noqa: N802
                started = time.monotonic()
                vendor._local.port = self.client_address[1]
                try:
                    super().do_POST()
                finally:
                    vendor._leave()
                    key = self.headers.get("Idempotency-Key", "")
                    window = PostWindow(key, started, time.monotonic(), self.client_address[1])
                    with vendor._flight_lock:
                        vendor.windows.append(window)

            def _send(self, answer: Answer) -> None:
                vendor._leave()  # before the answer leaves: the window is closed from here on
                super()._send(answer)

        self.httpd.RequestHandlerClass = Handler

    def _leave(self) -> None:
        with self._flight_lock:
            self.in_flight.pop(getattr(self._local, "port", -1), None)
            self.in_flight_since.pop(getattr(self._local, "port", -1), None)

    def answer_for(self, key: str) -> Answer:
        answer = super().answer_for(key)
        with self._flight_lock:
            self.in_flight[getattr(self._local, "port", -1)] = key
            self.in_flight_since[getattr(self._local, "port", -1)] = time.monotonic()
        if self.delay and not answer.delay:
            return Answer(answer.status, answer.headers, answer.body, self.delay)
        return answer

    def posts_per_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in list(self.requests):
            if record.method == "POST":
                key = {k.lower(): v for k, v in record.headers.items()}.get("idempotency-key", "")
                counts[key] = counts.get(key, 0) + 1
        return counts

    def in_flight_ports(self) -> set[int]:
        with self._flight_lock:
            return set(self.in_flight)

    def in_flight_keys(self) -> set[str]:
        """Idempotency-Keys of the POSTs whose effect is recorded and whose answer is not sent."""
        with self._flight_lock:
            return set(self.in_flight.values())

    def in_flight_started_after(self, moment: float) -> int:
        """How many POSTs in flight had their effect recorded after ``moment`` (monotonic)."""
        with self._flight_lock:
            return sum(1 for since in self.in_flight_since.values() if since > moment)

    def post_windows(self) -> list[PostWindow]:
        """The windows of the POSTs finished so far."""
        with self._flight_lock:
            return list(self.windows)


class FlappingVendor(CountingVendor):
    """A vendor that comes and goes: after :meth:`flap`, time is cut into periods of ``period``
    seconds that cycle through up, down (503 with ``Retry-After: 1``, no effect), up, and
    dropping (the effect is recorded, then the connection is reset without an answer: the
    gateway cannot know the POST took effect). :meth:`steady` ends it."""

    period = 0.5

    def __init__(self, spool: Path, secret: str | None = None, delay: float = 0.0) -> None:
        super().__init__(spool, secret, delay)
        self.flapping_since: float | None = None
        self.refused = 0  # POSTs answered 503
        self.dropped = 0  # POSTs whose effect was recorded and whose connection was reset
        vendor = self
        base = self.httpd.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def _send(self, answer: Answer) -> None:
                if answer.status != DROP:
                    super()._send(answer)
                    return
                vendor._leave()
                # RST on close, no answer: what a vendor crashing behind its load balancer does
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

        self.httpd.RequestHandlerClass = Handler

    def flap(self) -> None:
        self.flapping_since = time.monotonic()

    def steady(self) -> None:
        self.flapping_since = None

    def phase(self) -> str:
        if self.flapping_since is None:
            return "up"
        return ("up", "down", "up", "dropping")[
            int((time.monotonic() - self.flapping_since) / self.period) % 4
        ]

    def answer_for(self, key: str) -> Answer:
        phase = self.phase()
        if phase == "down":
            with self._flight_lock:
                self.refused += 1
            return Answer(503, {"Retry-After": "1"}, b"flapping")
        answer = super().answer_for(key)
        if phase == "dropping" and 200 <= answer.status < 300:
            with self._flight_lock:
                self.dropped += 1
            return Answer(DROP)
        return answer


#: The status :class:`FlappingVendor` gives a POST it answers by resetting the connection.
DROP = 0


@dataclass
class Proc:
    """One gateway process we started."""

    name: str
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, no grace: what a crash looks like to the broker and the database."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, grace: float = 15.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def vendor_ports(self, vendor_port: int) -> set[int]:
        """Local ports of this process's TCP connections to ``vendor_port`` (from /proc)."""
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            return set()
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                local, remote, inode = cols[1], cols[2], cols[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == vendor_port:
                    ports.add(int(local.rsplit(":", 1)[1], 16))
        return ports


class GatewayCluster:
    """Starts, kills and restarts the gateway's processes; all share config, data and keys."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.procs: list[Proc] = []
        self._counter: dict[str, int] = {}

    def _spawn(self, role: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        n = self._counter[role] = self._counter.get(role, 0) + 1
        name = f"{role}{n}"
        log = self.root / f"{name}.log"
        env = {
            **os.environ,
            **self.env,
            **(env or {}),
            "XGW_BASE_URL": self.base_url,
            "PYTHONUNBUFFERED": "1",
        }
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 - our own CLI
                [str(XGW), role, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        proc = Proc(name, role, popen, log)
        self.procs.append(proc)
        return proc

    async def start_api(self, within: float = 60.0, port: int | None = None) -> Proc:
        """An ``xgw api`` on the cluster's port (or on ``port``: a second api beside the first,
        as behind a load balancer; ``XGW_BASE_URL`` stays the cluster's), once it answers."""
        port = port or self.port
        proc = self._spawn("api", "--host", "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.log_text()[-4000:]}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        return proc
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{proc.name} not healthy within {within}s:\n{proc.log_text()[-4000:]}")

    def spawn_stage(self, role: str, env: dict[str, str] | None = None) -> Proc:
        """``relay`` or ``worker``, not waited for (see :meth:`wait_started`); ``env`` overrides
        the cluster's environment for this process only (e.g. its own ``XGW_AMQP_URL``)."""
        return self._spawn(role, env=env)

    async def wait_started(self, *procs: Proc, within: float = 60.0) -> None:
        """Until each stage process logged ``pipeline_started`` (topology declared, consuming)."""
        deadline = time.monotonic() + within
        for proc in procs:
            while '"pipeline_started"' not in proc.log_text():
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.log_text()[-4000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{proc.name} did not start within {within}s:\n{proc.log_text()[-4000:]}"
                    )
                await asyncio.sleep(0.1)

    async def start_stage(self, role: str, env: dict[str, str] | None = None) -> Proc:
        proc = self.spawn_stage(role, env)
        await self.wait_started(proc)
        return proc

    def running(self, role: str) -> list[Proc]:
        return [p for p in self.procs if p.role == role and p.alive()]

    def stop_all(self) -> None:
        """SIGTERM to every process at once, then wait for each (SIGKILL after the grace)."""
        for proc in self.procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.terminate()
            except Exception:  # teardown: make sure the rest is stopped too
                proc.kill()

    def log_lines(self, role: str) -> list[dict[str, Any]]:
        """Every JSON log line of every process of ``role`` (dead ones included)."""
        out = []
        for proc in self.procs:
            if proc.role != role:
                continue
            for line in proc.log_text().splitlines():
                if line.startswith("{"):
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # the last line of a killed process may be cut
                    entry["_proc"] = proc.name
                    out.append(entry)
        return out

    def errors(self) -> list[str]:
        """Tracebacks and error lines, for the failure report."""
        found = []
        for proc in self.procs:
            for line in proc.log_text().splitlines():
                if re.search(r'"level": "(error|critical)"', line):
                    found.append(f"{proc.name}: {line[:500]}")
        return found
