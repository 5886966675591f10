"""A supervised RabbitMQ subscription: one handler, one queue, its own channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from functools import partial
from typing import Protocol

import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from gateway.broker import consuming
from gateway.broker.amqp.channel import ERRORS, Publisher, dead_letter_of
from gateway.broker.base import (
    ORIGIN_HEADER,
    PARK_REASON_HEADER,
    BrokerUnavailableError,
    EnvelopeError,
    Handler,
    PublishError,
)
from gateway.broker.topology import Topology
from gateway.errors import ConfigError


class Connections(Protocol):
    """What a consumer needs of its broker: channels, the topology, timing, the consumer set."""

    topology: Topology
    reconnect_delay: tuple[float, float]
    publish_timeout: float
    consumers: set[AmqpConsumer]

    async def channel(self) -> AbstractChannel: ...


log = structlog.get_logger(__name__)


class AmqpConsumer:
    """One handler on one RabbitMQ queue, on its own channel, re-subscribed after any loss."""

    def __init__(self, broker: Connections, queue: str, handler: Handler, prefetch: int) -> None:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self._broker = broker
        self.queue = queue  #: the queue consumed
        self._handler = handler
        self._prefetch = prefetch
        self._inflight = consuming.InFlight()
        self._stopping = False
        self._channel: Publisher | None = None  # the subscription's channel, also for retries
        self._tag: tuple[AbstractQueue, str] | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe once (errors propagate), then keep the subscription alive."""
        await self._subscribe()
        supervise = consuming.keep_subscribed(
            self.queue, self._wait_lost, self._subscribe, self._broker.reconnect_delay
        )
        self._supervisor = asyncio.create_task(supervise, name=f"supervise:{self.queue}")

    async def _subscribe(self) -> None:
        channel = await self._broker.channel()
        publisher = Publisher(channel, self._broker.publish_timeout)
        try:
            await channel.set_qos(prefetch_count=self._prefetch)
            queue = await channel.get_queue(self.queue, ensure=True)
            self._tag = (queue, await queue.consume(partial(self._on_message, publisher)))
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise ConfigError(
                f"queue {self.queue!r} does not exist; declare the topology first", path="delivery.queue"
            ) from exc
        except ERRORS as exc:
            if not channel.is_closed:
                await channel.close()
            raise BrokerUnavailableError(f"cannot consume {self.queue!r}: {exc!r}") from exc
        self._channel = publisher

    def _wait_lost(self) -> Awaitable[object]:
        assert self._channel is not None
        return self._channel.channel.closed()

    async def _on_message(self, channel: Publisher, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            return  # arrived after basic.cancel: stays unacked, requeued when the channel closes
        # The work runs in its own task, shielded: a lost connection cancels this callback, but
        # a vendor call in flight finishes and commits; only its settlement is lost, and the
        # broker's redelivery then finds the work done (or still claimed) in the database.
        work = asyncio.create_task(self._process(channel, message))
        self._inflight.add(work)
        await asyncio.shield(work)

    async def _process(self, channel: Publisher, message: AbstractIncomingMessage) -> None:
        started, message_id = time.monotonic(), message.message_id or ""
        headers = message.headers or {}
        try:
            delivery = consuming.make_delivery(
                self.queue,
                message.body,
                message_id,
                headers,
                bool(message.redelivered),
                dead_letter_of(headers) if self.queue == self._broker.topology.dead_queue else None,
            )
        except EnvelopeError as exc:  # poison: park it at once, it can never be handled
            log.error("delivery_malformed", queue=self.queue, message_id=message_id, error=exc.detail)
            await self._park(channel, message, self.queue, f"malformed message: {exc.detail}", 1)
            return
        settlement = await consuming.decide(self._handler, delivery, self._broker.topology.retry)
        if settlement.action == "ack":
            await self._settle(message.ack(), message_id)
        elif settlement.action == "park":
            await self._park(channel, message, delivery.origin, settlement.reason, delivery.attempt)
        elif settlement.action == "requeue":
            await self._settle(message.nack(requeue=True), message_id)
        else:
            # Republish on the channel that delivered it: if that channel is gone, so is the
            # retry copy, and the broker redelivers the original (no duplicate).
            retry_queue = self._broker.topology.retry_queue(settlement.level)
            try:
                await channel.publish(
                    retry_queue,
                    self.queue,
                    message.body,
                    message_id=message_id,
                    attempt=settlement.attempt,
                    headers=consuming.dead_letter_headers(delivery.dead_letter),
                )
            except PublishError as exc:  # last resort, bounded by the broker's delivery limit
                log.warning(
                    "retry_publish_failed", queue=self.queue, message_id=message_id, reason=exc.reason
                )
                await self._settle(message.nack(requeue=True), message_id)
            else:
                await self._settle(message.ack(), message_id)
        consuming.log_settled(delivery, settlement, started)

    async def _park(
        self, channel: Publisher, message: AbstractIncomingMessage, origin: str, reason: str, attempt: int
    ) -> None:
        """Publish to ``origin``'s parked queue with the reason in headers, then ack; if that
        publish fails, give the message back (redelivered later)."""
        message_id = message.message_id or ""
        headers = {PARK_REASON_HEADER: reason[:1000], ORIGIN_HEADER: origin}
        try:
            parked = self._broker.topology.parked_queue(origin)
            await channel.publish(
                "", parked, message.body, message_id=message_id, attempt=attempt, headers=headers
            )
        except (PublishError, ValueError) as exc:
            log.warning("park_publish_failed", queue=self.queue, message_id=message_id, error=str(exc))
            await self._settle(message.nack(requeue=True), message_id)
        else:
            await self._settle(message.ack(), message_id)

    async def _settle(self, settling: Awaitable[None], message_id: str) -> None:
        try:
            await settling
        except ERRORS as exc:
            log.warning("delivery_settle_failed", queue=self.queue, message_id=message_id, error=repr(exc))

    async def stop(self, grace: float = 30.0) -> None:
        """Cancel the subscription, let in-flight handlers finish, close the channel."""
        if self._stopping:
            return
        self._stopping = True
        if self._supervisor is not None and self._supervisor.cancel():
            await asyncio.gather(self._supervisor, return_exceptions=True)
        open_channel = self._channel.channel if self._channel else None
        if self._tag is not None and open_channel is not None and not open_channel.is_closed:
            try:
                await self._tag[0].cancel(self._tag[1])
            except ERRORS as exc:  # a dying channel requeues anyway
                log.warning("consumer_cancel_failed", queue=self.queue, error=repr(exc))
        cancelled = await self._inflight.drain(grace)
        if open_channel is not None and not open_channel.is_closed:
            await open_channel.close()
        self._broker.consumers.discard(self)
        log.info("consumer_stopped", queue=self.queue, cancelled=cancelled)
