"""In-process broker specifics (the shared contract lives in tests/integration/delivery)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.broker import Delivery, MemoryBroker, Outcome, Park, PublishError, Retry, RetryPolicy, Topology
from tests.eventually import eventually


async def test_close_drops_pending_retries_and_refuses_further_publishes() -> None:
    broker = MemoryBroker(Topology(retry=RetryPolicy(delays_ms=(50,))))
    await broker.declare()
    seen: list[int] = []
    handled = asyncio.Event()

    async def retry(delivery: Delivery) -> Outcome:
        seen.append(delivery.attempt)
        handled.set()
        return Retry("again")

    await broker.consume(broker.topology.validate_queue, retry)
    await broker.publish(broker.topology.validate_queue, {}, message_id="m")
    await asyncio.wait_for(handled.wait(), 2)
    await asyncio.sleep(0)  # let the consumer settle it (schedules the retry timer)
    await broker.close()
    await asyncio.sleep(0.1)  # lets time pass: the retry was due after 50 ms and must not come
    assert seen == [1]  # the scheduled retry died with the broker: not durable, by design
    with pytest.raises(PublishError) as caught:
        await broker.publish(broker.topology.validate_queue, {}, message_id="late")
    assert caught.value.reason == "connection"


async def test_depth_counts_ready_messages() -> None:
    broker = MemoryBroker()
    await broker.declare(["d"])
    queue = broker.topology.deliver_queue("d")
    await broker.publish_many([])
    await broker.publish(queue, {}, message_id="a")
    await broker.publish(queue, {}, message_id="b")
    assert broker.depth(queue) == 2
    await broker.close()


async def test_parked_message_carries_the_reason_it_was_parked_for() -> None:
    broker = MemoryBroker()
    await broker.declare(["d"])
    queue = broker.topology.deliver_queue("d")
    handled = asyncio.Event()

    async def refuse(_: Delivery) -> Outcome:
        handled.set()
        return Park("the vendor said E-42")

    await broker.consume(queue, refuse)
    await broker.publish(queue, {}, message_id="p")
    await asyncio.wait_for(handled.wait(), 2)
    parked = broker.topology.parked_queue(queue)
    await eventually(lambda: broker.depth(parked) == 1, what="the parked message")
    assert broker.park_reasons(parked) == ["the vendor said E-42"]
    await broker.close()
