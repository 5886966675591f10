"""The broker handlers of the stages: one small function per queue, outcomes as policy says."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from gateway.delivery import Delivery, Handler, Outcome, Topology
from gateway.events.callbacks import CallbackSender
from gateway.routing.runner import DeliveryRunner
from gateway.validator import Validator

log = structlog.get_logger()


def validate_handler(validator: Validator) -> Handler:
    async def handle(delivery: Delivery) -> Outcome:
        await validator.process(str(delivery.envelope.get("submissionId", "")))
        return Outcome.ACK

    return handle


def callback_handler(sender: CallbackSender) -> Handler:
    async def handle(delivery: Delivery) -> Outcome:
        result = await sender.send(str(delivery.envelope.get("submissionId", "")))
        return Outcome.RETRY if result.should_retry else Outcome.ACK

    return handle


def stage_handlers(
    topology: Topology, validator: Validator, runner: DeliveryRunner, callbacks: CallbackSender, destinations: list[str]
) -> Mapping[str, Handler]:
    """Queue name → handler for every queue this process consumes."""
    handlers: dict[str, Handler] = {
        topology.process_queue: validate_handler(validator),
        topology.callback_queue: callback_handler(callbacks),
    }
    for destination in destinations:
        handlers[topology.deliver_queue(destination)] = runner.handle
    return handlers
