"""Rejecting submissions parked too long: a destination's ``reject_parked_after`` (e.g. ``"72h"``;
default off) rejects each of its submissions parked longer than that, through the same service as
``xgw parked reject`` (:meth:`gateway.operations.parked.ParkedService.reject`): the sender gets a
destination-signed ``reject-submission`` with ``technical-error``, and the audit log an
``operator.reject`` by ``operator:policy:reject_parked_after`` with the reason.

How long a submission has been parked counts from its park record (a replay drops the record, so a
submission parked again starts anew). The workers run the check at start and every
``retention.sweep_interval_seconds``, so a submission is rejected at most one interval after its
limit. Every worker process runs it; that is safe because the reject is a guarded step
(``parked`` → ``rejected``): of two workers (or a worker and an operator) exactly one takes it and
records its signed event, the other finds the submission no longer parked and moves on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import structlog

from gateway.errors import NotFoundError
from gateway.operations.parked import Operator, ParkedService
from gateway.store.parked import ParkedFilter

__all__ = ["POLICY", "ParkedExpiry"]

log = structlog.get_logger(__name__)
#: Who rejects, in the audit log (as ``operator:policy:reject_parked_after``).
POLICY = Operator("policy:reject_parked_after")


def _text(limit: dt.timedelta) -> str:
    """``limit`` in whole hours, minutes or seconds: ``72h``, ``90m``, ``45s``."""
    seconds = int(limit.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class ParkedExpiry:
    """Rejects the parked submissions of each destination in ``limits`` (destination id → how
    long a submission may stay parked), one round per :meth:`run_once`."""

    def __init__(self, parked: ParkedService, limits: Mapping[str, dt.timedelta]) -> None:
        self._parked = parked
        self.limits = dict(limits)

    async def run_once(self, now: dt.datetime | None = None) -> list[str]:
        """Reject what is parked longer than its destination's limit at ``now`` (default: the
        current time); the ids rejected by this call. Store errors propagate."""
        now = now or dt.datetime.now(dt.UTC)
        rejected: list[str] = []
        for destination_id, limit in self.limits.items():
            why = f"parked longer than {_text(limit)} (reject_parked_after of destination {destination_id})"
            for item in await self._parked.find(POLICY, ParkedFilter(destination_id=destination_id)):
                if item.parked_at > now - limit:
                    continue
                try:
                    await self._parked.reject(POLICY, item.submission_id, why)
                except NotFoundError:  # replayed or rejected meanwhile, by an operator or another worker
                    continue
                rejected.append(item.submission_id)
        if rejected:
            log.info("parked_submissions_expired", rejected=len(rejected))
        return rejected
