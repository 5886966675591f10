"""Consumers come back after a RabbitMQ restart (SECURITY-CASES F6/F20; aio-pika #231, #626).

We do not trust the library to restore consumers: after ``rabbitmqctl stop_app`` / ``start_app``
the test asserts that the queue has a consumer again and that a message published after the
restart is handled. The app is always started again, even if the test fails.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable

import aio_pika
import pytest

from gateway.broker import PublishError, Topology
from gateway.broker.amqp import AmqpBroker
from tests.eventually import eventually
from tests.integration.delivery.conftest import Recorder

pytestmark = pytest.mark.rabbitmq


async def rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def listed_consumers(queue: str) -> int:
    """Consumers on ``queue`` as ``rabbitmqctl list_queues`` reports them."""
    listed = json.loads(await rabbitmqctl("list_queues", "-q", "name", "consumers", "--formatter", "json"))
    return int({q["name"]: q["consumers"] for q in listed}.get(queue, 0))


async def consumer_count(amqp_url: str, queue: str) -> int:
    """Consumers on ``queue`` by a passive declare on a fresh connection; -1 if not reachable."""
    try:
        async with await aio_pika.connect(amqp_url, timeout=2) as connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            return declared.declaration_result.consumer_count or 0
    except Exception:  # broker still starting, queue leader not elected yet
        return -1


@pytest.mark.destructive
async def test_consumer_is_back_and_messages_flow_after_a_broker_restart(
    topology: Topology,
    destinations: tuple[str, ...],
    amqp_factory: Callable[..., AmqpBroker],
    amqp_url: str,
    recorder: type[Recorder],
) -> None:
    broker = amqp_factory(reconnect_delay=(0.2, 1.0))
    await broker.declare(destinations)
    queue = topology.deliver_queue("d1")
    handler = recorder()
    await broker.consume(queue, handler)
    await broker.publish(queue, {"n": 1}, message_id="before-restart")
    await handler.wait_for(1, finished=True)
    assert await consumer_count(amqp_url, queue) == 1

    try:
        await rabbitmqctl("stop_app")
        with pytest.raises(PublishError) as caught:
            await broker.publish(queue, {"n": 2}, message_id="while-down")
        assert caught.value.reason == "connection"
    finally:
        await rabbitmqctl("start_app")
    await rabbitmqctl("await_startup")

    async def consumers() -> int:  # polling the broker: nothing local to wait on
        return max(await consumer_count(amqp_url, queue), 0)  # -1: not reachable yet

    count = await eventually(consumers, within=30, interval=0.2, what="the consumer back")
    assert count == 1, "more than one consumer after the restart"
    listed = await eventually(  # list_queues reports quorum queue metrics with a lag
        lambda: listed_consumers(queue), within=30, interval=0.5, what="the consumer listed"
    )
    assert listed == 1

    async def published() -> bool:  # the publisher reconnects on the next call
        try:
            await broker.publish(queue, {"n": 3}, message_id="after-restart")
        except PublishError:
            return False
        return True

    await eventually(published, within=30, interval=0.2, what="publishing to recover after the restart")
    await handler.wait_until(lambda: "after-restart" in handler.ids, within=10)
    assert "while-down" not in handler.ids
