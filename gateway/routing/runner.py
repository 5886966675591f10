"""The adapter runner: consumes a destination's delivery queue and hands each validated
submission to the adapter bound to its service.

Fates (STYLE: every message's fate follows a named policy):

* success → status ``delivered`` and an ``accept-submission`` SET (destination-signed, with the
  authentication tags), committed together with the attempt record; ack;
* ``TransientDeliveryError`` or any unexpected exception → attempt recorded, delayed retry via the
  broker's delay queues; on the last attempt of the budget → ``parked``;
* ``PermanentDeliveryError`` or no adapter bound → ``parked`` at once (dead-letter queue).

Idempotent by (stage, submission id): a submission that is not ``validated`` any more is acked
without calling the adapter again. Adapters get the submission id as idempotency key for the
window between their side effect and our commit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.adapters import PermanentDeliveryError, Receipt
from gateway.crypto.keys import KeyStore
from gateway.delivery import Delivery, Outcome, RetryPolicy
from gateway.events.callbacks import record_event
from gateway.routing.bindings import AdapterBindings
from gateway.routing.view import build_view
from gateway.settings import Limits
from gateway.store.blobs import BlobStore
from gateway.store.models import Attachment, DeliveryAttempt, Submission, utcnow
from gateway.validator.keyring import destination_decryption_keys, destination_signer

log = structlog.get_logger()
ACCEPT = "accept-submission"


@dataclass
class DeliveryRunner:
    """``handle`` is the delivery queues' handler."""

    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    keys: KeyStore
    bindings: AdapterBindings
    limits: Limits
    retry: RetryPolicy

    async def handle(self, delivery: Delivery) -> Outcome:
        submission_id = str(delivery.envelope.get("submissionId", ""))
        with structlog.contextvars.bound_contextvars(submission_id=submission_id, attempt=delivery.attempt):
            return await self._deliver(submission_id, delivery.attempt)

    async def _deliver(self, submission_id: str, attempt: int) -> Outcome:
        async with self.sessions() as session:
            row = await session.get(Submission, submission_id)
            blobs = {
                a.attachment_id: a.blob
                for a in await session.scalars(
                    select(Attachment).where(Attachment.submission_id == submission_id)
                )
            }
        if row is None or row.status != "validated":
            log.info("delivery_skipped", status=row.status if row else None)
            return Outcome.ACK
        adapter = self.bindings.get(row.destination_id, row.service_identifier)
        if adapter is None:
            await self._finish(row, attempt, "-", "permanent", 0, error="no adapter bound to this service")
            return Outcome.DEAD_LETTER
        name = type(adapter).__name__
        keys = destination_decryption_keys(self.keys, row.destination_id)
        view = await asyncio.to_thread(
            build_view, row, self.blobs, blobs, keys, self.limits.max_inflated_bytes
        )
        started = time.monotonic()
        try:
            receipt = await adapter.deliver(view)
        except PermanentDeliveryError as exc:
            await self._finish(row, attempt, name, "permanent", _ms(started), error=exc.detail)
            return Outcome.DEAD_LETTER
        except Exception as exc:  # transient by policy, including adapters that crash
            last = attempt >= self.retry.max_attempts
            error = f"{type(exc).__name__}: {exc}"
            await self._finish(
                row, attempt, name, "permanent" if last else "transient", _ms(started), error=error
            )
            return Outcome.DEAD_LETTER if last else Outcome.RETRY
        await self._accept(row, attempt, name, _ms(started), receipt)
        return Outcome.ACK

    async def _accept(
        self, row: Submission, attempt: int, adapter: str, latency: int, receipt: Receipt
    ) -> None:
        signer = destination_signer(self.keys, row.destination_id)
        tags: dict[str, Any] = dict(row.authentication_tags or {})
        token = await signer.sign(ACCEPT, row.id, row.case_id, {"authenticationTags": tags})
        async with self.sessions.begin() as session:
            done = await session.execute(
                update(Submission)
                .where(Submission.id == row.id, Submission.status == "validated")
                .values(status="delivered", updated_at=utcnow())
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return  # another worker finished it first: its record stands
            record_event(session, row, ACCEPT, token)
            session.add(_attempt(row.id, attempt, adapter, "delivered", latency, reference=receipt.reference))
        log.info("submission_delivered", adapter=adapter, reference=receipt.reference, latency_ms=latency)

    async def _finish(
        self, row: Submission, attempt: int, adapter: str, outcome: str, latency: int, *, error: str
    ) -> None:
        async with self.sessions.begin() as session:
            session.add(_attempt(row.id, attempt, adapter, outcome, latency, error=error[:2000]))
            if outcome == "permanent":
                await session.execute(
                    update(Submission)
                    .where(Submission.id == row.id, Submission.status == "validated")
                    .values(status="parked", updated_at=utcnow())
                )
        if outcome == "permanent":
            log.warning("submission_parked", adapter=adapter, error=error)
        else:
            log.info("delivery_retry_scheduled", adapter=adapter, error=error)


def _attempt(
    submission_id: str,
    attempt: int,
    adapter: str,
    outcome: str,
    latency: int,
    *,
    error: str | None = None,
    reference: str | None = None,
) -> DeliveryAttempt:
    return DeliveryAttempt(
        submission_id=submission_id,
        attempt=attempt,
        adapter=adapter,
        outcome=outcome,
        error=error,
        reference=reference,
        latency_ms=latency,
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
