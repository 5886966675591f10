"""RabbitMQ-only behaviour: message properties, queue arguments, topology import, faults on the wire."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from collections.abc import Callable

import aio_pika
import pytest

from gateway.broker import Park, PublishError, Topology
from gateway.broker.amqp import AmqpBroker
from gateway.broker.amqp.channel import is_open
from gateway.broker.base import ATTEMPT_HEADER
from gateway.broker.topology import PARKED_DELIVERY_LIMIT
from gateway.errors import ConfigError
from tests.eventually import eventually
from tests.integration.delivery.conftest import Recorder, TcpProxy

pytestmark = pytest.mark.rabbitmq


DESTINATIONS = ("d1", "d2")  # as declared by the conftest fixtures


async def rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_published_message_is_persistent_with_id_type_and_attempt(
    amqp_broker: AmqpBroker, amqp_url: str
) -> None:
    queue = amqp_broker.topology.deliver_queue("d1")
    await amqp_broker.publish(queue, {"submission_id": "s-1"}, message_id="s-1")
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        message = await (await channel.get_queue(queue)).get(timeout=5)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert (message.message_id, message.content_type) == ("s-1", "application/json")
        assert message.headers[ATTEMPT_HEADER] == 1
        assert json.loads(message.body) == {"submission_id": "s-1"}
        await message.ack()


async def test_every_queue_is_a_durable_quorum_queue_with_explicit_limits(amqp_broker: AmqpBroker) -> None:
    top = amqp_broker.topology
    listed = json.loads(
        await rabbitmqctl("list_queues", "-q", "name", "durable", "type", "arguments", "--formatter", "json")
    )
    ours = {q["name"]: q for q in listed if q["name"].startswith(f"{top.namespace}.")}
    assert set(ours) == {spec.name for spec in top.queues(DESTINATIONS)}
    for name, queue in ours.items():
        args = {key: value for key, _type, value in queue["arguments"]}
        assert queue["durable"] and queue["type"] == "quorum", name
        assert args["x-overflow"] == "reject-publish", name
        if ".parked." in name or name == top.dead_queue:
            assert args["x-delivery-limit"] == PARKED_DELIVERY_LIMIT
        else:
            assert args["x-delivery-limit"] == top.delivery_limit, name
            assert args["x-dead-letter-strategy"] == "at-least-once", name
            assert args["x-dead-letter-exchange"] == "", name
    assert ours[top.validate_queue]["arguments"]
    assert {k: v for k, _t, v in ours[top.deliver_queue("d1")]["arguments"]}[
        "x-dead-letter-routing-key"
    ] == top.dead_queue


async def test_declaring_an_existing_queue_with_other_arguments_is_a_config_error(
    amqp_broker: AmqpBroker, amqp_factory: Callable[..., AmqpBroker]
) -> None:
    top = amqp_broker.topology
    changed = Topology(namespace=top.namespace, retry=top.retry, delivery_limit=top.delivery_limit + 1)
    with pytest.raises(ConfigError):
        await amqp_factory(topology=changed).declare(DESTINATIONS)


async def test_exported_definitions_import_and_match_what_the_gateway_declares(
    topology: Topology, amqp_factory: Callable[..., AmqpBroker]
) -> None:
    # rabbitmqctl runs as the rabbitmq user: the file must be world-readable, not in pytest's tmp_path
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=tempfile.gettempdir()) as file:
        json.dump(topology.definitions(DESTINATIONS), file)
        file.flush()
        os.chmod(file.name, 0o644)
        await rabbitmqctl("import_definitions", file.name)
    broker = amqp_factory()
    await broker.declare(DESTINATIONS)  # PRECONDITION_FAILED (ConfigError) if anything differed
    await broker.publish(topology.deliver_queue("d2"), {"id": 1}, message_id="via-definitions")


async def test_aio_pika_defaults_still_report_an_unroutable_publish_as_success(
    topology: Topology, amqp_factory: Callable[..., AmqpBroker], amqp_url: str
) -> None:
    """Regression guard (SECURITY-CASES F8): if this starts failing, aio-pika changed its default."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()  # on_return_raises=False by default
        result = await channel.default_exchange.publish(
            aio_pika.Message(b"{}", message_id="x"),
            routing_key=topology.deliver_queue("nowhere"),
            mandatory=True,
            timeout=5,
        )
        assert result is not None  # "succeeded" with the returned message: silent loss


async def test_malformed_message_is_parked_without_calling_the_handler(
    amqp_broker: AmqpBroker, amqp_url: str, recorder: type[Recorder]
) -> None:
    top = amqp_broker.topology
    queue = top.deliver_queue("d1")
    handler = recorder()
    await amqp_broker.consume(queue, handler)
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(b"<xml/>", message_id="junk"), queue)
        await channel.default_exchange.publish(aio_pika.Message(b'{"ok": 1}', message_id="fine"), queue)
        await handler.wait_for(1)
        assert handler.ids == ["fine"]
        parked = await channel.get_queue(top.parked_queue(queue))
        message = await eventually(lambda: parked.get(fail=False), what="the parked message")
        assert message.body == b"<xml/>"
        assert str(message.headers["xgw-park-reason"]).startswith("malformed message")
        assert message.headers["xgw-origin"] == queue
        await message.ack()


async def test_parked_message_carries_its_reason_and_origin_in_headers(
    amqp_broker: AmqpBroker, amqp_url: str, recorder: type[Recorder]
) -> None:
    top = amqp_broker.topology
    queue = top.deliver_queue("d2")
    await amqp_broker.consume(queue, recorder(Park("the vendor said E-42")))
    await amqp_broker.publish(queue, {"id": "p"}, message_id="p")
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        parked = await channel.get_queue(top.parked_queue(queue))
        message = await eventually(lambda: parked.get(fail=False), what="the parked message")
        assert message.message_id == "p"
        assert message.headers["xgw-park-reason"] == "the vendor said E-42"
        assert (message.headers["xgw-origin"], message.headers["xgw-attempt"]) == (queue, 1)
        await message.ack()


async def test_a_lost_connection_does_not_cancel_a_running_handler(
    topology: Topology, amqp_factory: Callable[..., AmqpBroker], tcp_proxy: TcpProxy, recorder: type[Recorder]
) -> None:
    """The handler's work finishes (its database commit happens); only the settlement is lost,
    and the broker redelivers the message to be found done."""
    broker = amqp_factory(tcp_proxy.url)
    await broker.declare(DESTINATIONS)
    queue = topology.deliver_queue("d1")
    gate = asyncio.Event()
    handler = recorder(gate=gate)
    await broker.consume(queue, handler)
    await broker.publish(queue, {"id": 1}, message_id="long-call")
    await handler.wait_for(1)
    lost = broker._connection  # the connection the message came on
    assert lost is not None
    await tcp_proxy.cut()
    await eventually(lambda: not is_open(lost), what="the client to notice the cut")
    gate.set()
    await handler.wait_for(2, within=15, finished=True)
    assert handler.ids == ["long-call", "long-call"]
    assert handler.finished == 2  # the first call ran to its end, not cancelled
    assert handler.deliveries[1].redelivered


async def test_publish_times_out_when_the_broker_stops_answering(
    topology: Topology, amqp_factory: Callable[..., AmqpBroker], tcp_proxy: TcpProxy
) -> None:
    broker = amqp_factory(tcp_proxy.url, publish_timeout=0.5)
    await broker.declare(DESTINATIONS)
    queue = topology.deliver_queue("d1")
    await broker.publish(queue, {"id": 0}, message_id="before")
    tcp_proxy.pause()
    with pytest.raises(PublishError) as caught:
        await broker.publish(queue, {"id": 1}, message_id="stalled")
    assert caught.value.reason == "timeout"
    tcp_proxy.resume()


async def test_publisher_and_consumer_recover_after_the_connection_is_cut(
    topology: Topology, amqp_factory: Callable[..., AmqpBroker], tcp_proxy: TcpProxy, recorder: type[Recorder]
) -> None:
    broker = amqp_factory(tcp_proxy.url)
    await broker.declare(DESTINATIONS)
    queue = topology.deliver_queue("d2")
    handler = recorder()
    await broker.consume(queue, handler)
    await broker.publish(queue, {"id": 1}, message_id="before-cut")
    await handler.wait_for(1)
    await tcp_proxy.cut()

    async def published() -> bool:  # the first publish may still see the dying connection
        try:
            await broker.publish(queue, {"id": 2}, message_id="after-cut")
        except PublishError as exc:
            if exc.reason != "connection":
                raise
            return False
        return True

    await eventually(published, what="a publish after the cut")
    await handler.wait_until(lambda: "after-cut" in handler.ids, within=10)
    # "before-cut" may come twice: its ack can die with the connection (at-least-once)
    assert set(handler.ids) == {"before-cut", "after-cut"}
