"""Fixtures for the delivery tests: a broker per test (in-process or RabbitMQ) in a uuid namespace.

RabbitMQ tests are marked ``rabbitmq``. If the broker is unreachable they skip with a reason, or
fail when ``CI=true`` (CI starts the broker, so a missing one is a broken pipeline). Every test
deletes the queues and exchanges of its namespace at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest

from gateway.broker import DONE, Broker, Delivery, MemoryBroker, Outcome, RetryPolicy, Topology
from gateway.broker.amqp import AmqpBroker

AMQP_URL = os.environ.get("XGW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DESTINATIONS = ("d1", "d2")
#: Short delays so the whole retry ladder takes well under a second.
FAST_RETRY = RetryPolicy(max_attempts=3, delays_ms=(100, 200, 300))


async def require_rabbitmq() -> None:
    """Skip (locally) or fail (``CI=true``) when RabbitMQ cannot be reached."""
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=3)
    except Exception as exc:  # any reason to be unreachable
        message = f"RabbitMQ at {AMQP_URL} is unreachable: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    await connection.close()


async def delete_topology(topology: Topology, destinations: tuple[str, ...] = DESTINATIONS) -> None:
    """Delete every queue and exchange the topology may have declared."""
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for spec in topology.queues(destinations):
            await channel.queue_delete(spec.name)  # no if_unused: quorum queues refuse it
        for exchange in topology.exchanges():
            await channel.exchange_delete(exchange)


@pytest.fixture
def topology() -> Topology:
    return Topology(namespace=f"t{uuid.uuid4().hex[:12]}", retry=FAST_RETRY, delivery_limit=2)


def make_amqp_broker(topology: Topology, url: str = AMQP_URL, **options: Any) -> AmqpBroker:
    defaults: dict[str, Any] = {
        "publish_timeout": 5.0,
        "reconnect_delay": (0.1, 0.5),
        "connect_timeout": 3.0,
        "name": "xgw-test",
    }
    return AmqpBroker(url, topology, **{**defaults, **options})


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture
def destinations() -> tuple[str, ...]:
    """The destinations every test topology declares."""
    return DESTINATIONS


@pytest.fixture
async def amqp_factory(topology: Topology) -> AsyncIterator[Callable[..., AmqpBroker]]:
    """``make(url=..., topology=..., **options)`` → an undeclared ``AmqpBroker``; every broker made
    is closed and the test topology deleted at teardown."""
    await require_rabbitmq()
    made: list[AmqpBroker] = []

    def make(url: str = AMQP_URL, topology: Topology = topology, **options: Any) -> AmqpBroker:
        made.append(make_amqp_broker(topology, url, **options))
        return made[-1]

    try:
        yield make
    finally:
        for broker in made:
            await broker.close()
        await delete_topology(topology)


@pytest.fixture
async def amqp_broker(amqp_factory: Callable[..., AmqpBroker]) -> AmqpBroker:
    broker = amqp_factory()
    await broker.declare(DESTINATIONS)
    return broker


@pytest.fixture
async def memory_broker(topology: Topology) -> AsyncIterator[MemoryBroker]:
    broker = MemoryBroker(topology)
    await broker.declare(DESTINATIONS)
    yield broker
    await broker.close()


@pytest.fixture(params=["memory", pytest.param("amqp", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest) -> Broker:
    """The broker under the contract: in-process, or RabbitMQ."""
    chosen: Broker = request.getfixturevalue(f"{request.param}_broker")
    return chosen


class Recorder:
    """A handler that records deliveries (with their arrival time) and returns ``decide(d)``."""

    def __init__(
        self, decide: Callable[[Delivery], Outcome] | Outcome = DONE, gate: asyncio.Event | None = None
    ) -> None:
        self.decide = decide
        self.gate = gate  # when set, handlers wait for it before returning
        self.deliveries: list[Delivery] = []
        self.times: list[float] = []
        self.running = 0
        self.max_running = 0
        self.finished = 0
        self._changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        self.times.append(time.monotonic())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self._changed.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            return self.decide(delivery) if callable(self.decide) else self.decide
        finally:
            self.running -= 1
            self.finished += 1
            self._changed.set()

    async def wait_for(self, count: int, within: float = 5.0, *, finished: bool = False) -> None:
        """Until ``count`` deliveries arrived (or finished); fails the test after ``within`` s."""
        await self.wait_until(
            lambda: (self.finished if finished else len(self.deliveries)) >= count,
            within,
            f"{count} deliveries",
        )

    async def wait_until(
        self, condition: Callable[[], bool], within: float = 5.0, what: str = "condition"
    ) -> None:
        async def reached() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(reached(), within)
        except TimeoutError:
            pytest.fail(f"expected {what} within {within}s; got {self.ids}")

    @property
    def ids(self) -> list[str]:
        return [d.message_id for d in self.deliveries]


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder


class TcpProxy:
    """A TCP forwarder to RabbitMQ that a test can cut (drop all connections, now or after N bytes
    upstream), blackhole (pause) or make refuse new connections."""

    def __init__(self, url: str = AMQP_URL) -> None:
        self._target = urlsplit(url)
        self.upstream = (self._target.hostname or "127.0.0.1", self._target.port or 5672)
        self.refusing = False
        self.forwarded = 0  # bytes client → broker
        self.cut_after: int | None = None  # cut every connection once this many bytes went up
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        credentials, at, _ = self._target.netloc.rpartition("@")
        return urlunsplit(self._target._replace(netloc=f"{credentials}{at}127.0.0.1:{port}"))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            await writer.wait_closed()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers |= {writer, up_writer}
        for task in (self._pipe(reader, up_writer, count=True), self._pipe(up_reader, writer)):
            t = asyncio.create_task(task)
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool = False
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                if count and self.cut_after is not None and self.forwarded + len(data) >= self.cut_after:
                    writer.write(data[: self.cut_after - self.forwarded])
                    self.forwarded, self.cut_after = self.cut_after, None
                    await self.cut()
                    return
                if count:
                    self.forwarded += len(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    def pause(self) -> None:
        """Blackhole: keep the sockets, forward nothing."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def cut(self) -> None:
        """Drop every open connection at once (both directions)."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.transport.abort()
        await asyncio.sleep(0)

    async def close(self) -> None:
        self.refusing = True
        self.resume()
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[TcpProxy]:
    await require_rabbitmq()
    proxy = TcpProxy()
    await proxy.start()
    yield proxy
    await proxy.close()
