"""The broker handlers of the stages: one small function per queue, outcomes as policy says."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from gateway.delivery import Delivery, Handler, Outcome, Topology
from gateway.events.callbacks import CallbackSender
from gateway.routing.runner import DeliveryRunner
from gateway.validator import Validator

log = structlog.get_logger()


def validate_handler(validator: Validator, max_attempts: int) -> Handler:
    """Unexpected failures are retried; on the last attempt the submission is rejected with
    ``technical-error`` rather than left waiting."""

    async def handle(delivery: Delivery) -> Outcome:
        submission_id = str(delivery.envelope.get("submissionId", ""))
        try:
            await validator.process(submission_id)
        except Exception:
            if delivery.attempt < max_attempts:
                raise
            log.exception("validation_failed_for_good", submission_id=submission_id, attempt=delivery.attempt)
            await validator.give_up(submission_id)
        return Outcome.ACK

    return handle


def callback_handler(sender: CallbackSender) -> Handler:
    async def handle(delivery: Delivery) -> Outcome:
        result = await sender.send(str(delivery.envelope.get("submissionId", "")))
        return Outcome.RETRY if result.should_retry else Outcome.ACK

    return handle


def stage_handlers(
    topology: Topology,
    validator: Validator,
    runner: DeliveryRunner,
    callbacks: CallbackSender,
    destinations: list[str],
) -> Mapping[str, Handler]:
    """Queue name → handler for every queue this process consumes."""
    handlers: dict[str, Handler] = {
        topology.process_queue: validate_handler(validator, topology.retry.max_attempts),
        topology.callback_queue: callback_handler(callbacks),
    }
    for destination in destinations:
        handlers[topology.deliver_queue(destination)] = runner.handle
    return handlers
