"""Maintenance of destinations for operators: pause and resume deliveries (``xgw destinations
pause|resume``, ``/admin/v1/destinations/{id}/pause|resume``). While paused, the deliver stage
calls no adapter for the destination and its messages wait without spending an attempt."""

from __future__ import annotations

import structlog

from gateway.errors import ForbiddenError, NotFoundError
from gateway.operations.parked import Operator
from gateway.store.pauses import Pauses

__all__ = ["Maintenance"]

log = structlog.get_logger()


class Maintenance:
    """Pause and resume, within the operator's scope."""

    def __init__(self, pauses: Pauses) -> None:
        self.pauses = pauses

    async def pause(self, operator: Operator, destination_id: str, why: str, *, paused: bool = True) -> None:
        """Pause (or with ``paused=False`` resume) the destination's deliveries; raises
        ``ForbiddenError`` outside the operator's scope, ``NotFoundError`` for no destination."""
        if not operator.sees(destination_id):
            raise ForbiddenError("not a destination of this operator", slug="forbidden")
        if not await self.pauses.set(destination_id, paused, operator.id, why):
            raise NotFoundError(f"no destination {destination_id!r}", slug="destination-not-found")
        log.info("destination_paused" if paused else "destination_resumed", destination_id=destination_id)
