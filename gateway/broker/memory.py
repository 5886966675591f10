"""In-process broker for the embedded single-process default (``xgw serve`` without a broker URL).

Same contract as the RabbitMQ broker: publishing to an undeclared queue fails with
``PublishError(reason="unroutable")``; consumers get at most ``prefetch`` unsettled messages; the
settlement acks, retries after the delay of its level, or parks in the origin's parked queue;
messages of a consumer stopped before they were settled are redelivered (``redelivered=True``),
count against the queue's delivery limit, and beyond it go to the dead-letter queue.

There is no durability: messages live in this process only. After a restart the database is the
source of truth: outbox rows not yet marked sent are published again by the relay, and
submissions whose status is still "in flight" must be re-enqueued by the composition root.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import structlog

from gateway.broker.base import (
    DeadLetter,
    Delivery,
    Envelope,
    HandleFunction,
    Handler,
    KeepMessages,
    OutgoingMessage,
    PublishError,
    as_handler,
    decode_envelope,
    encode_envelope,
    publish_concurrently,
)
from gateway.broker.consuming import InFlight, decide, log_settled
from gateway.broker.topology import Topology
from gateway.errors import ConfigError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Message:
    message_id: str
    body: bytes
    attempt: int = 1
    returns: int = 0  # like a quorum queue's x-delivery-count
    redelivered: bool = False
    dead_letter: DeadLetter | None = None
    park_reason: str | None = None


class _Queue:
    """A FIFO with a wake-up event; beyond ``delivery_limit`` returns a message is dead-lettered."""

    def __init__(self, name: str, delivery_limit: int | None) -> None:
        self.name = name
        self.delivery_limit = delivery_limit
        self.items: deque[_Message] = deque()
        self._ready = asyncio.Event()

    def put(self, message: _Message, *, front: bool = False) -> None:
        if front:
            self.items.appendleft(message)
        else:
            self.items.append(message)
        self._ready.set()

    async def take(self) -> _Message:
        while not self.items:
            self._ready.clear()
            await self._ready.wait()
        return self.items.popleft()


class MemoryBroker:
    """The in-process :class:`~gateway.broker.base.Broker`."""

    def __init__(self, topology: Topology | None = None) -> None:
        self.topology = topology or Topology()
        self._queues: dict[str, _Queue] = {}
        self._consumers: set[MemoryConsumer] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._closed = False

    async def declare(self, destinations: Iterable[str] = ()) -> None:
        """Create the work, parked and dead-letter queues (retry delays are timers, not queues)."""
        dead = self.topology.dead_queue
        self._queues.setdefault(dead, _Queue(dead, None))
        for work in self.topology.work_queues(destinations):
            parked = self.topology.parked_queue(work)
            self._queues.setdefault(parked, _Queue(parked, None))
            self._queues.setdefault(work, _Queue(work, self.topology.delivery_limit))

    async def publish(self, queue: str, envelope: Envelope, *, message_id: str) -> None:
        """Enqueue; raises ``PublishError`` (unroutable, closed) or ``EnvelopeError``."""
        body = encode_envelope(envelope)
        if self._closed:
            raise PublishError("broker is closed", queue=queue, message_id=message_id, reason="connection")
        target = self._queues.get(queue)
        if target is None:
            raise PublishError(f"no queue {queue!r}", queue=queue, message_id=message_id, reason="unroutable")
        target.put(_Message(message_id, body))

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        """Publish each message; return the ids that were enqueued."""
        return await publish_concurrently(self.publish, messages)

    async def consume(
        self, queue: str, handler: Handler | HandleFunction, *, prefetch: int = 10
    ) -> MemoryConsumer:
        """Start a consumer; raises ``ConfigError`` for an undeclared queue."""
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        source = self._queues.get(queue)
        if source is None:
            raise ConfigError(
                f"queue {queue!r} does not exist; declare the topology first", path="delivery.queue"
            )
        consumer = MemoryConsumer(self, source, as_handler(handler), prefetch)
        self._consumers.add(consumer)
        return consumer

    async def close(self) -> None:
        """Stop consumers and drop pending retry timers (nothing is durable here)."""
        self._closed = True
        for consumer in list(self._consumers):
            await consumer.stop()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    async def drain(self, queue: str, keep: KeepMessages) -> int:
        """See :meth:`gateway.broker.base.Broker.drain`."""
        target = self._queues.get(queue)
        if target is None:
            return 0
        items = list(target.items)
        wanted = await keep([m.message_id for m in items])
        seen: set[str] = set()
        dropped: set[int] = set()
        for message in items:
            if message.message_id in wanted and message.message_id not in seen:
                seen.add(message.message_id)
            else:
                dropped.add(id(message))
        target.items = deque(m for m in target.items if id(m) not in dropped)  # later arrivals stay
        return len(dropped)

    def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (not counting unsettled ones)."""
        return len(self._queues[queue].items)

    def park_reasons(self, queue: str) -> list[str | None]:
        """The park reasons of the messages in a parked queue, oldest first."""
        return [m.park_reason for m in self._queues[queue].items]

    # -- settlement, called by consumers ---------------------------------------------------

    def _park(self, origin: str, message: _Message, reason: str) -> None:
        target = self._queues.get(self.topology.parked_queue(origin))
        if target is None:
            log.error("park_dropped", queue=origin, message_id=message.message_id)
            return
        target.put(replace(message, returns=0, redelivered=False, park_reason=reason, dead_letter=None))

    def _retry_later(self, source: _Queue, message: _Message, delay_ms: int) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            source.put(message)

        timer = asyncio.get_running_loop().call_later(delay_ms / 1000, fire)
        self._timers.add(timer)

    def _return(self, source: _Queue, message: _Message) -> None:
        """An unsettled message goes back to the head of its queue, or beyond the delivery limit
        to the dead-letter queue."""
        returned = replace(message, returns=message.returns + 1, redelivered=True)
        if source.delivery_limit is None or returned.returns <= source.delivery_limit:
            source.put(returned, front=True)
            return
        dead = self._queues.get(self.topology.dead_queue)
        if dead is None:
            log.error("dead_letter_dropped", queue=source.name, message_id=message.message_id)
            return
        letter = DeadLetter(source.name, "delivery_limit")
        dead.put(replace(returned, returns=0, redelivered=False, dead_letter=letter))


class MemoryConsumer:
    """One handler on one in-process queue."""

    def __init__(self, broker: MemoryBroker, source: _Queue, handler: Handler, prefetch: int) -> None:
        self._broker = broker
        self._source = source
        self.queue = source.name  #: the queue consumed
        self._handler = handler
        self._slots = asyncio.Semaphore(prefetch)
        self._inflight = InFlight()
        self._stopped = False
        self._pump = asyncio.create_task(self._run(), name=f"consume:{source.name}")

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                message = await self._source.take()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            self._inflight.add(asyncio.create_task(self._handle(message)))

    async def _handle(self, message: _Message) -> None:
        started = time.monotonic()
        try:
            delivery = Delivery(
                self.queue,
                message.message_id,
                decode_envelope(message.body),
                message.attempt,
                message.redelivered,
                message.dead_letter,
            )
            settlement = await decide(self._handler, delivery, self._broker.topology.retry)
        except asyncio.CancelledError:
            self._broker._return(self._source, message)
            raise
        finally:
            self._slots.release()
        if settlement.action == "delay":
            retry = replace(message, attempt=settlement.attempt, returns=0, redelivered=False)
            delay = self._broker.topology.retry.delays_ms[settlement.level]
            self._broker._retry_later(self._source, retry, delay)
        elif settlement.action == "park":
            self._broker._park(delivery.origin, message, settlement.reason)
        elif settlement.action == "requeue":
            self._broker._return(self._source, message)
        log_settled(delivery, settlement, started)

    async def stop(self, grace: float = 30.0) -> None:
        """Take no new messages, wait for in-flight handlers, redeliver those cancelled."""
        if self._stopped:
            return
        self._stopped = True
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
        cancelled = await self._inflight.drain(grace)
        self._broker._consumers.discard(self)
        log.info("consumer_stopped", queue=self.queue, cancelled=cancelled)
