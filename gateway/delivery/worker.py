"""Consumer policy shared by both brokers: run the handler, decide the message's fate.

The fate of every delivery follows one named policy:

* ``ACK`` → acknowledge.
* ``RETRY`` (or an unexpected exception in the handler) → republish with ``attempt + 1`` to the
  delay queue of this attempt's level and acknowledge the original; once ``attempt`` reached
  ``RetryPolicy.max_attempts`` → dead-letter instead (reason ``retries_exhausted``).
* ``DEAD_LETTER`` → reject without requeue, at once (reason ``permanent``): the broker moves it
  to the parked queue. No retry is burnt.

Independently, the broker's ``x-delivery-limit`` bounds *immediate* redeliveries (consumer crash
or disconnect before the ack) and parks a message that keeps killing its consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from gateway.delivery.broker import ATTEMPT_HEADER, Delivery, Handler, Outcome, decode_envelope
from gateway.delivery.topology import RetryPolicy
from gateway.errors import GatewayError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the broker does with a delivery: ``outcome`` after the retry budget is applied."""

    outcome: Outcome
    reason: str
    retry_level: int = 0  #: delay level, when ``outcome`` is ``RETRY``
    next_attempt: int = 0  #: attempt number of the retry, when ``outcome`` is ``RETRY``


def settle(outcome: Outcome, attempt: int, policy: RetryPolicy) -> Settlement:
    """Apply the retry budget to the handler's ``outcome`` for delivery number ``attempt``."""
    if outcome is Outcome.ACK:
        return Settlement(Outcome.ACK, "ok")
    if outcome is Outcome.DEAD_LETTER:
        return Settlement(Outcome.DEAD_LETTER, "permanent")
    if attempt >= policy.max_attempts:
        return Settlement(Outcome.DEAD_LETTER, "retries_exhausted")
    return Settlement(Outcome.RETRY, "transient", policy.level(attempt), attempt + 1)


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


def make_delivery(
    queue: str, body: bytes, message_id: str, headers: Mapping[str, Any] | None, redelivered: bool
) -> Delivery:
    """The :class:`Delivery` of a received message; raises ``EnvelopeError`` for a bad body."""
    return Delivery(queue, message_id, decode_envelope(body), attempt_from_headers(headers), redelivered)


async def run_handler(handler: Handler, delivery: Delivery) -> Outcome:
    """Call ``handler``; an unexpected exception (logged with traceback) counts as ``RETRY``."""
    try:
        outcome = await handler(delivery)
    except Exception:
        log.exception(
            "handler_failed", queue=delivery.queue, message_id=delivery.message_id, attempt=delivery.attempt
        )
        return Outcome.RETRY
    if not isinstance(outcome, Outcome):
        log.error(
            "handler_returned_no_outcome",
            queue=delivery.queue,
            message_id=delivery.message_id,
            returned=repr(outcome),
        )
        return Outcome.RETRY
    return outcome


def log_settled(delivery: Delivery, settlement: Settlement, started: float) -> None:
    """The one summary line per message."""
    log.info(
        "delivery_settled",
        queue=delivery.queue,
        message_id=delivery.message_id,
        attempt=delivery.attempt,
        redelivered=delivery.redelivered,
        outcome=settlement.outcome.value,
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
