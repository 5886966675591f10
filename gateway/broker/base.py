"""The broker interface the rest of the gateway uses, and the vocabulary it speaks.

Messages are *claim checks*: a small JSON envelope of ids (at most :data:`MAX_ENVELOPE_BYTES`
encoded), never a payload. A message is published to a queue of the :class:`~gateway.broker.
topology.Topology` with a ``message_id`` (the idempotency key the consumer dedupes on). A consumer's
:class:`Handler` returns an outcome (``gateway.broker.fate``); the broker settles the message only
after the handler returned, so the handler commits its database work first. Two implementations
keep the same contract:
``gateway.broker.amqp.AmqpBroker`` (RabbitMQ) and ``gateway.broker.memory.MemoryBroker``
(in-process, embedded default).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog

from gateway.broker.fate import Outcome, Park
from gateway.broker.topology import Topology
from gateway.errors import PermanentError, TransientError

#: Largest encoded envelope; anything bigger is a payload, which belongs in the blob store.
MAX_ENVELOPE_BYTES = 8 * 1024
#: Header carrying the attempt number (1 on the first delivery; absent means 1).
ATTEMPT_HEADER = "xgw-attempt"
#: Headers of a parked message: why, and from which work queue.
PARK_REASON_HEADER = "xgw-park-reason"
ORIGIN_HEADER = "xgw-origin"
#: Headers that keep a dead letter's origin and reason across delayed retries of its record.
DEAD_ORIGIN_HEADER = "xgw-dead-origin"
DEAD_REASON_HEADER = "xgw-dead-reason"
CONTENT_TYPE = "application/json"

#: A small JSON object of ids. Callers pass any mapping; deliveries carry a ``dict``.
Envelope = Mapping[str, Any]

log = structlog.get_logger(__name__)


class PublishError(TransientError):
    """A publish was not confirmed by the broker; the message may or may not have arrived.

    ``reason`` is one of ``unroutable`` (no such queue), ``nacked``, ``timeout``, ``connection``
    (connection or channel lost, or broker closed).
    """

    slug = "publish-failed"

    def __init__(self, detail: str, *, queue: str, message_id: str, reason: str) -> None:
        super().__init__(detail)
        self.queue = queue
        self.message_id = message_id
        self.reason = reason


class BrokerUnavailableError(TransientError):
    """The broker cannot be reached or refused to open a channel."""

    slug = "broker-unavailable"


class EnvelopeError(PermanentError):
    """The envelope is not a JSON object or is larger than ``limit`` bytes when encoded."""

    slug = "envelope-invalid"

    def __init__(self, detail: str, *, size: int | None = None, limit: int = MAX_ENVELOPE_BYTES) -> None:
        super().__init__(detail)
        self.size = size
        self.limit = limit


def encode_envelope(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON of ``envelope``; raises :class:`EnvelopeError` if invalid or too large."""
    if not isinstance(envelope, Mapping):
        raise EnvelopeError(f"envelope must be a JSON object, not {type(envelope).__name__}")
    try:
        body = json.dumps(dict(envelope), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise EnvelopeError(f"envelope is not JSON-serialisable: {exc}") from exc
    if len(body) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(
            f"envelope is {len(body)} bytes, limit {MAX_ENVELOPE_BYTES}: send ids, not payloads",
            size=len(body),
        )
    return body


def decode_envelope(body: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_envelope`; raises :class:`EnvelopeError` on anything else."""
    if len(body) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"message body is {len(body)} bytes", size=len(body))
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvelopeError(f"message body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EnvelopeError("message body is not a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to publish."""

    queue: str
    message_id: str
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why the broker dead-lettered a message on its own, and from which work queue."""

    origin: str  #: the work queue it came from
    reason: str  #: e.g. ``delivery_limit`` (more unacknowledged deliveries than the limit)
    count: int = 1  #: how often it was dead-lettered from ``origin``


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a handler."""

    queue: str
    message_id: str
    envelope: dict[str, Any]
    attempt: int  #: 1 on the first delivery, +1 per delayed retry
    redelivered: bool  #: the broker delivered it before without an ack (crash, disconnect)
    dead_letter: DeadLetter | None = None  #: set on messages of the dead-letter queue

    @property
    def origin(self) -> str:
        """The work queue the message belongs to (its parked queue is that queue's)."""
        return self.dead_letter.origin if self.dead_letter else self.queue


@runtime_checkable
class Handler(Protocol):
    """A stage's side of a queue: ``handle`` decides each message's fate; ``parked`` is asked
    before any message is parked (whoever decided it: the handler, the retry budget, the broker's
    delivery limit) and records the reason: ``Park`` to park, ``Done`` when the work finished
    after all (drop the message), ``Wait`` when another attempt still works on it."""

    async def handle(self, delivery: Delivery) -> Outcome: ...

    async def parked(self, delivery: Delivery, reason: str) -> Outcome: ...


HandleFunction = Callable[[Delivery], Awaitable[Outcome]]


@dataclass(frozen=True)
class FunctionHandler:
    """A handler from a plain function; parking needs no record."""

    function: HandleFunction

    async def handle(self, delivery: Delivery) -> Outcome:
        return await self.function(delivery)

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        return Park(reason)


def as_handler(handler: Handler | HandleFunction) -> Handler:
    """``handler`` itself, or a plain function wrapped as a :class:`FunctionHandler`."""
    return handler if isinstance(handler, Handler) else FunctionHandler(handler)


class Consumer(Protocol):
    """A running subscription of one handler to one queue."""

    @property
    def queue(self) -> str:
        """The queue consumed."""
        ...

    async def stop(self, grace: float = 30.0) -> None:
        """Take no new messages, let in-flight handlers finish (cancelled after ``grace``
        seconds; their messages are redelivered), then release the subscription."""
        ...


class Broker(Protocol):
    """What the gateway needs from a message broker."""

    topology: Topology

    async def declare(self, destinations: Iterable[str] = ()) -> None:
        """Declare the topology for ``destinations`` (idempotent). Raises
        :class:`BrokerUnavailableError`, or ``ConfigError`` if a queue exists with other arguments."""
        ...

    async def publish(self, queue: str, envelope: Envelope, *, message_id: str) -> None:
        """Publish and wait for the broker's confirm. Raises :class:`PublishError`
        or :class:`EnvelopeError`."""
        ...

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        """Publish all, await all confirms concurrently; return the ids confirmed. Failures are
        logged, not raised. Message ids must be unique within a batch (``ValueError``)."""
        ...

    async def consume(self, queue: str, handler: Handler | HandleFunction, *, prefetch: int = 10) -> Consumer:
        """Start consuming ``queue`` with at most ``prefetch`` unsettled messages. Raises
        ``ConfigError`` if the queue does not exist, :class:`BrokerUnavailableError`."""
        ...

    async def drain(self, queue: str, keep: KeepMessages) -> int:
        """Remove the messages of ``queue`` (a parked queue) whose ids ``keep`` does not return,
        and every copy of a kept id beyond the first; the rest stay. Returns how many were
        removed; raises :class:`BrokerUnavailableError`."""
        ...

    async def close(self) -> None:
        """Stop every consumer and release connections."""
        ...


#: Given the message ids in a queue, the ids whose messages stay.
KeepMessages = Callable[[list[str]], Awaitable[set[str]]]


class _Publish(Protocol):
    def __call__(self, queue: str, envelope: Envelope, *, message_id: str) -> Awaitable[None]: ...


async def publish_concurrently(publish: _Publish, messages: Sequence[OutgoingMessage]) -> set[str]:
    """Run ``publish`` for every message at once; return the confirmed ids, log the rest."""
    ids = [m.message_id for m in messages]
    if len(set(ids)) != len(ids):
        raise ValueError("message ids must be unique within a batch")
    results = await asyncio.gather(
        *(publish(m.queue, m.envelope, message_id=m.message_id) for m in messages),
        return_exceptions=True,
    )
    confirmed: set[str] = set()
    failed: dict[str, list[str]] = {}
    for message, result in zip(messages, results, strict=True):
        if result is None:
            confirmed.add(message.message_id)
        elif isinstance(result, PublishError | EnvelopeError):
            reason = result.reason if isinstance(result, PublishError) else result.slug
            failed.setdefault(reason, []).append(message.message_id)
        else:
            raise result
    if failed:
        log.warning(
            "publish_batch_incomplete",
            confirmed=len(confirmed),
            failed={reason: len(ids) for reason, ids in failed.items()},
            sample={reason: ids[:5] for reason, ids in failed.items()},
        )
    return confirmed
