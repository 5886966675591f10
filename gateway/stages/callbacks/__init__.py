"""The callbacks stage: tells a sender that its case's event log has new events."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker import DONE, Delivery, Outcome, Park, Retry
from gateway.routing.routes import StageMessage
from gateway.stages.callbacks.sender import CallbackResult, CallbackSender
from gateway.store.parking import record_parked

__all__ = ["CallbackResult", "CallbackSender", "CallbackStage"]

log = structlog.get_logger()


@dataclass
class CallbackStage:
    """The callbacks queue's handler: a failing callback is retried, never changes the submission."""

    sessions: async_sessionmaker[AsyncSession]
    sender: CallbackSender

    async def handle(self, delivery: Delivery) -> Outcome:
        result = await self.sender.send(StageMessage.parse(delivery.envelope).submission_id)
        return Retry(result.detail or "callback failed") if result.should_retry else DONE

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        submission_id = StageMessage.parse(delivery.envelope).submission_id
        async with self.sessions.begin() as session:
            await record_parked(session, delivery.origin, delivery.message_id, submission_id, reason)
        log.warning("callback_parked", submission_id=submission_id, reason=reason)
        return Park(reason)
