"""How both brokers consume: run the stage handler, let :func:`~gateway.broker.fate.settle`
decide the message's fate, confirm a park with the handler, log one summary line.

* ``ack`` → acknowledge.
* ``delay`` → republish with the settled attempt number to the delay queue of its level, then
  acknowledge the original (no hot requeue).
* ``park`` → the handler records it (``Handler.parked``, unless it parked on its own account),
  then the message is published to its parked queue with the reason in headers and acknowledged.
* ``requeue`` → given back unsettled (only when a park could not be recorded): the broker
  redelivers it, bounded by its delivery limit, after which it reaches the dead-letter queue.

An unexpected exception in a handler is logged with its traceback and counts as ``Retry``.
Independently, the broker's ``x-delivery-limit`` bounds *immediate* redeliveries (consumer crash
or disconnect before the settlement); such a message goes to the dead-letter queue, whose
consumer (:class:`DeadLetters`) records it through the handler of its origin queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from gateway.broker.base import (
    ATTEMPT_HEADER,
    DEAD_ORIGIN_HEADER,
    DEAD_REASON_HEADER,
    Broker,
    Consumer,
    DeadLetter,
    Delivery,
    Handler,
    decode_envelope,
)
from gateway.broker.fate import Done, Outcome, Park, Retry, Settlement, Wait, settle
from gateway.broker.topology import RetryPolicy
from gateway.errors import GatewayError

log = structlog.get_logger(__name__)

_OUTCOMES = (Done, Retry, Wait, Park)


def attempt_from_headers(headers: Mapping[str, Any] | None) -> int:
    """The attempt number carried in :data:`ATTEMPT_HEADER`; 1 when absent or malformed."""
    value = (headers or {}).get(ATTEMPT_HEADER)
    if isinstance(value, bool) or not isinstance(value, int | str | bytes):
        return 1
    try:
        attempt = int(value)
    except ValueError:
        return 1
    return attempt if attempt >= 1 else 1


def dead_letter_headers(dead: DeadLetter | None) -> dict[str, Any]:
    """Headers that carry ``dead`` across a delayed retry of its record (none for work messages)."""
    if dead is None:
        return {}
    return {DEAD_ORIGIN_HEADER: dead.origin, DEAD_REASON_HEADER: dead.reason}


def make_delivery(
    queue: str,
    body: bytes,
    message_id: str,
    headers: Mapping[str, Any] | None,
    redelivered: bool,
    dead_letter: DeadLetter | None = None,
) -> Delivery:
    """The :class:`Delivery` of a received message; raises ``EnvelopeError`` for a bad body."""
    return Delivery(
        queue, message_id, decode_envelope(body), attempt_from_headers(headers), redelivered, dead_letter
    )


async def _outcome_of(call: Callable[[], Awaitable[Outcome]], delivery: Delivery, what: str) -> Outcome:
    try:
        outcome = await call()
    except Exception as exc:
        log.exception(
            f"{what}_failed", queue=delivery.queue, message_id=delivery.message_id, attempt=delivery.attempt
        )
        return Retry(f"{type(exc).__name__}: {exc}"[:500])
    if not isinstance(outcome, _OUTCOMES):
        log.error(f"{what}_returned_no_outcome", queue=delivery.queue, returned=repr(outcome))
        return Retry("handler returned no outcome")
    return outcome


async def run_handler(handler: Handler, delivery: Delivery) -> Outcome:
    """``handler.handle``; an unexpected exception (logged with traceback) counts as ``Retry``."""
    return await _outcome_of(lambda: handler.handle(delivery), delivery, "handler")


async def decide(handler: Handler, delivery: Delivery, policy: RetryPolicy) -> Settlement:
    """The settlement of one delivery: the handler's outcome under the retry budget, and a park
    confirmed (recorded) by the handler first."""
    settlement = settle(await run_handler(handler, delivery), delivery.attempt, policy)
    if settlement.action != "park":
        return settlement
    recorded = await _outcome_of(lambda: handler.parked(delivery, settlement.reason), delivery, "park_record")
    match recorded:
        case Park():
            return settlement
        case Done():
            return Settlement("ack", "finished meanwhile")
        case Wait():
            return settle(recorded, delivery.attempt, policy)
        case _:  # the record failed: never park what the database does not know about
            return Settlement("requeue", "park not recorded")


class DeadLetters:
    """The dead-letter queue's handler: the origin queue's handler records the reason; then the
    message is parked (or dropped when its work finished after all).

    Failures to record are retried through the delay queues for as long as it takes.
    """

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = dict(handlers)

    async def handle(self, delivery: Delivery) -> Outcome:
        dead = delivery.dead_letter
        if dead is None:
            return Park("dead letter without origin")
        reason = _dead_reason(dead)
        origin = self._handlers.get(dead.origin)
        if origin is None:
            log.warning("dead_letter_unrecorded", origin=dead.origin, message_id=delivery.message_id)
            return Park(reason)
        return await origin.parked(delivery, reason)

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        return Park(reason)


async def consume_dead_letters(
    broker: Broker, handlers: Mapping[str, Handler], *, prefetch: int = 10
) -> Consumer:
    """Consume ``broker``'s dead-letter queue: each message is recorded by the handler of its
    origin queue (``Handler.parked``), then parked, or dropped when its work finished after all."""
    return await broker.consume(broker.topology.dead_queue, DeadLetters(handlers), prefetch=prefetch)


def _dead_reason(dead: DeadLetter) -> str:
    if dead.reason == "delivery_limit":
        return (
            "delivery limit: delivered too often without a settlement "
            "(the consumer crashed or lost its connection)"
        )
    return f"dead-lettered by the broker ({dead.reason})"


def log_settled(delivery: Delivery, settlement: Settlement, started: float) -> None:
    """The one summary line per message."""
    log.info(
        "delivery_settled",
        queue=delivery.queue,
        message_id=delivery.message_id,
        attempt=delivery.attempt,
        redelivered=delivery.redelivered,
        outcome=settlement.action,
        reason=settlement.reason,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )


class InFlight:
    """The handler tasks of one consumer, so that ``stop()`` can wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def add(self, task: asyncio.Task[Any] | None = None) -> None:
        """Track ``task`` (default: the current task) until it finishes."""
        task = task or asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self, grace: float) -> int:
        """Wait up to ``grace`` seconds; cancel what is left; return how many were cancelled."""
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)


async def keep_subscribed(
    queue: str,
    wait_lost: Callable[[], Awaitable[object]],
    resubscribe: Callable[[], Awaitable[None]],
    delays: tuple[float, float],
) -> None:
    """Supervise a subscription until cancelled: whenever ``wait_lost()`` returns, call
    ``resubscribe()`` until it succeeds, sleeping with capped exponential backoff
    (``delays`` = first, max seconds) after each ``GatewayError``."""
    while True:
        await wait_lost()
        log.warning("consumer_subscription_lost", queue=queue)
        delay = delays[0]
        while True:
            try:
                await resubscribe()
            except GatewayError as exc:
                log.warning("consumer_resubscribe_failed", queue=queue, error=exc.detail, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, delays[1])
            else:
                log.info("consumer_resubscribed", queue=queue)
                break
