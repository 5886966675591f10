"""The outbox relay against both brokers, with an in-memory outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from gateway.broker import Broker, Topology
from gateway.broker.amqp import AmqpBroker
from gateway.stages.relay import Relay
from gateway.store.outbox import OutboxRow
from tests.eventually import eventually
from tests.integration.delivery.conftest import Recorder, TcpProxy


class FakeOutbox:
    """An ``OutboxSource`` in memory; ``fail_fetches`` makes the next fetches raise."""

    def __init__(self, rows: Sequence[OutboxRow] = ()) -> None:
        self.pending: dict[int, OutboxRow] = {r.id: r for r in rows}
        self.marked: list[list[int]] = []
        self.released: list[list[int]] = []
        self.fail_fetches = 0
        self.fetch_gate: asyncio.Event | None = None
        self.fetched = asyncio.Event()

    def add(self, row: OutboxRow) -> None:
        self.pending[row.id] = row

    async def release(self, ids: list[int]) -> None:
        self.released.append(list(ids))

    async def fetch_pending(self, limit: int) -> list[OutboxRow]:
        self.fetched.set()
        if self.fetch_gate is not None:
            await self.fetch_gate.wait()
        if self.fail_fetches:
            self.fail_fetches -= 1
            raise RuntimeError("database unavailable")
        return [self.pending[i] for i in sorted(self.pending)][:limit]

    async def mark_sent(self, ids: list[int]) -> None:
        self.marked.append(list(ids))
        for row_id in ids:
            del self.pending[row_id]

    @property
    def sent_ids(self) -> list[int]:
        return sorted(i for batch in self.marked for i in batch)


def rows(queue: str, count: int, start: int = 1, pad: int = 0) -> list[OutboxRow]:
    return [
        OutboxRow(i, queue, f"sub-{i}", {"submission_id": f"sub-{i}", "pad": "x" * pad})
        for i in range(start, start + count)
    ]


async def drained(broker: Broker, queue: str, recorder: type[Recorder], count: int) -> Recorder:
    handler = recorder()
    await broker.consume(queue, handler, prefetch=100)
    await handler.wait_for(count, within=10)
    return handler


async def test_relay_publishes_pending_rows_in_batches_and_marks_them_sent(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.deliver_queue("d1")
    outbox = FakeOutbox(rows(queue, 25))
    relay = Relay(outbox, broker, batch_size=10)
    results = [await relay.run_once() for _ in range(4)]
    assert [r.sent for r in results] == [10, 10, 5, 0]
    assert outbox.pending == {} and outbox.sent_ids == list(range(1, 26))
    handler = await drained(broker, queue, recorder, 25)
    assert sorted(handler.ids) == sorted(f"sub-{i}" for i in range(1, 26))


async def test_row_for_a_missing_queue_stays_pending_while_the_others_are_sent(broker: Broker) -> None:
    good = rows(broker.topology.deliver_queue("d1"), 3)
    bad = OutboxRow(99, broker.topology.deliver_queue("gone"), "sub-99", {"submission_id": "sub-99"})
    outbox = FakeOutbox([*good, bad])
    result = await Relay(outbox, broker).run_once()
    assert (result.fetched, result.sent, result.failed) == (4, 3, 1)
    assert list(outbox.pending) == [99] and outbox.sent_ids == [1, 2, 3]
    result = await Relay(outbox, broker).run_once()  # still unroutable next round
    assert (result.sent, result.failed, list(outbox.pending)) == (0, 1, [99])


async def test_rows_with_a_repeated_message_id_go_out_in_a_later_round(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.validate_queue
    twin = [OutboxRow(1, queue, "sub-1", {"n": 1}), OutboxRow(2, queue, "sub-1", {"n": 2})]
    outbox = FakeOutbox(twin)
    relay = Relay(outbox, broker)
    first = await relay.run_once()
    assert (first.sent, first.deferred, list(outbox.pending)) == (1, 1, [2])
    second = await relay.run_once()
    assert (second.sent, outbox.pending) == (1, {})
    handler = await drained(broker, queue, recorder, 2)
    assert [d.envelope["n"] for d in handler.deliveries] == [1, 2]


async def test_running_relay_wakes_on_notify_instead_of_waiting_for_the_poll(broker: Broker) -> None:
    queue = broker.topology.deliver_queue("d2")
    outbox = FakeOutbox()
    relay = Relay(outbox, broker, poll_interval=60)
    relay.start()
    try:
        await eventually(outbox.fetched.is_set, within=10, what="a first fetch")
        # lets the relay reach its wait for the poll or a notify (not observable from outside;
        # a notify that came earlier would be seen too, only the test would mean less)
        await asyncio.sleep(0.05)
        outbox.add(rows(queue, 1)[0])
        relay.notify()
        await eventually(lambda: not outbox.pending, within=3, what="the row sent")
    finally:
        await relay.stop()


async def test_store_failure_backs_off_and_the_rows_go_out_later(broker: Broker) -> None:
    outbox = FakeOutbox(rows(broker.topology.validate_queue, 5))
    outbox.fail_fetches = 2
    relay = Relay(outbox, broker, poll_interval=60, backoff=(0.05, 0.1))
    relay.start()
    try:
        await eventually(lambda: not outbox.pending, within=5, what="the rows sent")
        assert outbox.fail_fetches == 0
    finally:
        await relay.stop()


async def test_stop_lets_the_current_batch_finish_and_mark_its_rows(broker: Broker) -> None:
    outbox = FakeOutbox(rows(broker.topology.validate_queue, 5))
    outbox.fetch_gate = asyncio.Event()
    relay = Relay(outbox, broker, poll_interval=60)
    relay.start()
    await eventually(outbox.fetched.is_set, within=10, what="a first fetch")
    stopping = asyncio.create_task(relay.stop())
    await asyncio.sleep(0.1)  # lets time pass: stop() must not return while the batch runs
    assert not stopping.done()  # waits for the batch in progress
    outbox.fetch_gate.set()
    await asyncio.wait_for(stopping, 5)
    assert outbox.pending == {} and len(outbox.marked) == 1


@pytest.mark.rabbitmq
async def test_connection_cut_mid_batch_leaves_unconfirmed_rows_pending_and_they_go_out_later(
    topology: Topology,
    destinations: tuple[str, ...],
    amqp_factory: Callable[..., AmqpBroker],
    tcp_proxy: TcpProxy,
    recorder: type[Recorder],
) -> None:
    broker = amqp_factory(tcp_proxy.url, publish_timeout=5.0)
    await broker.declare(destinations)  # also opens the connection through the proxy
    queue = topology.deliver_queue("d1")
    outbox = FakeOutbox(rows(queue, 300, pad=1000))  # about 330 KB of frames
    tcp_proxy.cut_after = tcp_proxy.forwarded + 60_000  # the broker sees only the first ~50
    first = await Relay(outbox, broker, batch_size=300).run_once()
    assert first.failed > 0 and first.sent + first.failed == 300
    assert len(outbox.pending) == first.failed  # marked sent == confirmed, nothing else
    tcp_proxy.refusing = True  # broker unreachable for a while: the relay backs off
    relay = Relay(outbox, broker, batch_size=100, poll_interval=60, backoff=(0.05, 0.2))
    relay.start()
    try:
        await asyncio.sleep(0.3)  # lets time pass: nothing can go out while the broker refuses
        assert outbox.pending
        tcp_proxy.refusing = False
        await eventually(lambda: not outbox.pending, within=15, what="the rows sent")
    finally:
        await relay.stop()
    expected = {f"sub-{i}" for i in range(1, 301)}
    handler = recorder()
    await amqp_factory().consume(queue, handler, prefetch=100)  # directly, not through the proxy
    await handler.wait_until(lambda: set(handler.ids) >= expected, within=10, what="all 300 ids")
    assert set(handler.ids) == expected  # none lost; duplicates (confirm lost in the cut) allowed
