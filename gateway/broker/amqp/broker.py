"""The RabbitMQ :class:`~gateway.broker.base.Broker`: connection, topology, publishing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from functools import partial

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection

from gateway.broker.amqp.channel import ERRORS, Publisher, is_open, with_heartbeat
from gateway.broker.amqp.consumer import AmqpConsumer
from gateway.broker.base import (
    BrokerUnavailableError,
    Envelope,
    HandleFunction,
    Handler,
    KeepMessages,
    OutgoingMessage,
    PublishError,
    as_handler,
    encode_envelope,
    publish_concurrently,
)
from gateway.broker.topology import Topology
from gateway.errors import ConfigError

log = structlog.get_logger(__name__)


class AmqpBroker:
    """The RabbitMQ :class:`~gateway.broker.base.Broker` (see the package docstring).

    ``heartbeat`` (seconds) is added to the URL unless it has one; ``connect_timeout`` and
    ``publish_timeout`` bound a connect and a confirm; ``reconnect_delay`` is the (first, max)
    backoff of consumer supervisors; ``name`` is the connection name RabbitMQ shows.
    """

    def __init__(
        self,
        url: str,
        topology: Topology | None = None,
        *,
        heartbeat: int = 15,
        connect_timeout: float = 10.0,
        publish_timeout: float = 15.0,
        reconnect_delay: tuple[float, float] = (0.5, 10.0),
        name: str = "xgw",
    ) -> None:
        self.topology = topology or Topology()
        self.reconnect_delay = reconnect_delay
        self._url = with_heartbeat(url, heartbeat)
        self._connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self._name = name
        self._connection: AbstractConnection | None = None
        self._publisher: Publisher | None = None
        self._lock, self._publisher_lock = asyncio.Lock(), asyncio.Lock()
        self.consumers: set[AmqpConsumer] = set()  #: running consumers
        self._closing = False

    async def connection(self) -> AbstractConnection:
        """The open connection, (re)connecting if needed; raises :class:`BrokerUnavailableError`."""
        async with self._lock:
            if self._connection is not None and is_open(self._connection):
                return self._connection
            if self._connection is not None:  # dropped by the broker: release what is left
                with contextlib.suppress(*ERRORS):
                    await self._connection.close()
            try:
                connection = await aio_pika.connect(
                    self._url,
                    timeout=self._connect_timeout,
                    client_properties={"connection_name": self._name},
                )
            except ERRORS as exc:
                raise BrokerUnavailableError(f"cannot connect to the broker: {exc!r}") from exc
            connection.close_callbacks.add(self._connection_lost)
            log.info("amqp_connected", connection_name=self._name)
            self._connection = connection
            return connection

    def _connection_lost(self, _: object, exc: BaseException | None) -> None:
        if not self._closing:
            log.warning("amqp_connection_lost", connection_name=self._name, error=repr(exc))

    async def channel(self) -> AbstractChannel:
        """A new confirm channel with ``on_return_raises``; raises :class:`BrokerUnavailableError`."""
        connection = await self.connection()
        try:
            return await connection.channel(publisher_confirms=True, on_return_raises=True)
        except ERRORS as exc:
            raise BrokerUnavailableError(f"cannot open a channel: {exc!r}") from exc

    async def declare(self, destinations: Iterable[str] = ()) -> None:
        """Declare queues, retry exchanges and bindings; idempotent."""
        channel = await self.channel()
        try:
            for exchange in self.topology.exchanges():
                await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
            for spec in self.topology.queues(destinations):
                queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
                if spec.name in self.topology.exchanges():
                    await queue.bind(spec.name, routing_key="")
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise ConfigError(
                f"a queue exists with other arguments: {exc}", path="delivery.topology"
            ) from exc
        except ERRORS as exc:
            raise BrokerUnavailableError(f"cannot declare the topology: {exc!r}") from exc
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _publishing(self) -> Publisher | BrokerUnavailableError:
        async with self._publisher_lock:
            if self._publisher is None or self._publisher.channel.is_closed:
                try:
                    self._publisher = Publisher(await self.channel(), self.publish_timeout)
                except BrokerUnavailableError as exc:
                    return exc
            return self._publisher

    async def _send(
        self,
        publisher: Publisher | BrokerUnavailableError,
        queue: str,
        envelope: Envelope,
        *,
        message_id: str,
    ) -> None:
        body = encode_envelope(envelope)
        if isinstance(publisher, BrokerUnavailableError):
            raise PublishError(
                publisher.detail, queue=queue, message_id=message_id, reason="connection"
            ) from publisher
        await publisher.publish("", queue, body, message_id=message_id)

    async def publish(self, queue: str, envelope: Envelope, *, message_id: str) -> None:
        """Publish persistent and mandatory, await the confirm; raises ``PublishError``."""
        await self._send(await self._publishing(), queue, envelope, message_id=message_id)

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        """Pipelined confirms on one channel (connected once): publish all, await all."""
        return await publish_concurrently(partial(self._send, await self._publishing()), messages)

    async def consume(
        self, queue: str, handler: Handler | HandleFunction, *, prefetch: int = 10
    ) -> AmqpConsumer:
        """Subscribe (first attempt raises) and supervise the subscription from then on."""
        consumer = AmqpConsumer(self, queue, as_handler(handler), prefetch)
        await consumer.start()
        self.consumers.add(consumer)
        return consumer

    async def drain(self, queue: str, keep: KeepMessages) -> int:
        """See :meth:`gateway.broker.base.Broker.drain`: takes each message ready at the start
        (``basic.get``, unacked), acks those not kept, and gives the kept ones back."""
        channel = await self.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            ready = declared.declaration_result.message_count or 0
            taken = []
            for _ in range(ready):
                message = await declared.get(no_ack=False, fail=False)
                if message is None:
                    break
                taken.append(message)
            wanted = await keep([m.message_id or "" for m in taken])
            seen: set[str] = set()
            removed = 0
            for message in taken:
                if message.message_id in wanted and message.message_id not in seen:
                    seen.add(message.message_id)
                    await message.nack(requeue=True)
                else:
                    await message.ack()
                    removed += 1
            return removed
        except ERRORS as exc:
            raise BrokerUnavailableError(f"cannot drain {queue}: {exc!r}") from exc
        finally:
            if not channel.is_closed:
                with contextlib.suppress(*ERRORS):
                    await channel.close()

    async def close(self) -> None:
        """Stop consumers, close the connection."""
        self._closing = True
        for consumer in list(self.consumers):
            await consumer.stop()
        async with self._lock:
            if self._connection is not None:
                with contextlib.suppress(*ERRORS):
                    await self._connection.close()
            self._connection = self._publisher = None
