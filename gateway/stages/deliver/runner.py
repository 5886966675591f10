"""The deliver stage: consumes a destination's queue and hands each validated submission to the
adapter bound to its service.

For each message:

1. a submission that is not ``validated`` (unknown, delivered, parked) is done already; one whose
   destination an operator paused waits (:class:`~gateway.broker.Wait`, no attempt spent);
2. no adapter bound → ``parked`` at once;
3. the stage claims the submission (:mod:`gateway.store.claims`); a claim held by another
   attempt → :class:`~gateway.broker.Wait` (the vendor is not called twice at the same time);
   the decrypted view is built with the content keys the validate stage re-wrapped (no RSA;
   :mod:`gateway.stages.deliver.view`); a stored key that does not unwrap (altered, moved from
   another part) or ciphertext that no longer decrypts → ``parked`` without calling the adapter;
4. the adapter is called within the binding's timeout; the outcome is committed with the attempt
   record (:mod:`gateway.store.attempts`) and the released claim: success → ``delivered`` plus a
   destination-signed ``accept-submission`` SET; ``PermanentDeliveryError`` → ``parked``;
   ``TransientDeliveryError`` (with its ``retry_after``), a timeout or a crash (logged with
   traceback) → ``Retry`` under the binding's retry policy.

The retry budget and parking belong to the broker fabric's settle rule; :meth:`DeliverStage.parked`
records a park the fabric decided (retries exhausted, the broker's delivery limit) unless an
attempt still holds the claim. The submission id is the adapter's idempotency key for what still
repeats (a side effect done, the worker killed before the commit). Attempt numbers continue from
the record: an attempt is numbered after the highest one recorded, so a replayed submission's
first attempt follows its last (the retry budget still counts the message's own attempts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.adapters import PermanentDeliveryError, TransientDeliveryError
from gateway.adapters import Submission as View
from gateway.broker import DONE, Delivery, Outcome, Park, Retry, Wait
from gateway.config.settings import Limits
from gateway.crypto.jwe import DecryptionError
from gateway.crypto.keyring import destination_decryption_keys
from gateway.crypto.keys import KeyStore
from gateway.crypto.keywrap import ContentKeyError, WrapKeys
from gateway.events.log import record_event
from gateway.events.sets import destination_signer
from gateway.routing.bindings import AdapterBindings, Binding
from gateway.routing.routes import StageMessage
from gateway.stages.deliver.view import PartKeys, build_view
from gateway.store.attempts import Attempt, AttemptOutcome, record_attempt
from gateway.store.blobs import BlobStore
from gateway.store.claims import Busy, claim, held, release, release_values, unclaimed
from gateway.store.content_keys import content_keys
from gateway.store.lifecycle import SubmissionStatus, transition
from gateway.store.models import Attachment, DeliveryAttempt, Submission
from gateway.store.parking import record_parked
from gateway.store.pauses import is_paused

log = structlog.get_logger()
ACCEPT = "accept-submission"
S = SubmissionStatus
A = AttemptOutcome


@dataclass
class DeliverStage:
    """The deliver queues' :class:`~gateway.broker.Handler`; the binding's timeout bounds one
    adapter call, the claim lasts that plus ``lease_margin`` seconds, and a copy that finds the
    claim held looks again after at most ``recheck_seconds`` (the delay level at least that long)."""

    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    keys: KeyStore
    bindings: AdapterBindings
    limits: Limits
    lease_margin: float = 10.0
    recheck_seconds: float = 60.0  #: a waiting copy looks again at least this often
    wrap_keys: WrapKeys | None = None  #: the local wrap keys (default: those in the key directory)

    def __post_init__(self) -> None:
        if self.wrap_keys is None:
            self.wrap_keys = WrapKeys(self.keys.root / "gateway")

    async def handle(self, delivery: Delivery) -> Outcome:
        message = StageMessage.parse(delivery.envelope)
        with structlog.contextvars.bound_contextvars(
            submission_id=message.submission_id, attempt=delivery.attempt
        ):
            return await self._deliver(delivery, message.submission_id)

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        """Record a park the fabric decided: ``validated`` → ``parked`` unless the work is done
        (``Done``) or an attempt still holds the claim (``Wait``)."""
        message = StageMessage.parse(delivery.envelope)
        busy = Wait(self.recheck_seconds, "an attempt still holds the claim")
        async with self.sessions.begin() as session:
            row = await session.get(Submission, message.submission_id, with_for_update=True)
            if row is None or row.status == S.DELIVERED:
                return DONE
            if row.status == S.VALIDATED:
                if held(row):
                    return busy
                if not await transition(
                    session, row.id, S.VALIDATED, S.PARKED, unclaimed(), **release_values()
                ):
                    return busy  # claimed (or finished) since it was read: look again
            await record_parked(session, delivery.origin, delivery.message_id, row.id, reason)
        log.warning("submission_parked", submission_id=row.id, reason=reason)
        return Park(reason)

    async def _deliver(self, delivery: Delivery, submission_id: str) -> Outcome:
        async with self.sessions() as session:
            row = await session.get(Submission, submission_id)
            last = select(func.max(DeliveryAttempt.attempt))
            recorded = await session.scalar(last.where(DeliveryAttempt.submission_id == submission_id))
            paused = row is not None and await is_paused(session, row.destination_id)
            blobs = {
                a.attachment_id: a.blob
                for a in await session.scalars(
                    select(Attachment).where(Attachment.submission_id == submission_id)
                )
            }
            stored = await content_keys(session, submission_id)
        if row is None or row.status != S.VALIDATED:
            log.info("delivery_skipped", status=row.status if row else None)
            return DONE
        if paused:
            log.info("delivery_paused", destination_id=row.destination_id)
            return Wait(self.recheck_seconds, "the destination is paused")
        attempt = max(delivery.attempt, (recorded or 0) + 1)  # numbers continue after a replay
        delivery = dataclasses.replace(delivery, attempt=attempt)
        binding = self.bindings.get(row.destination_id, row.service_identifier)
        if binding is None:
            reason = "no adapter bound to this service"
            await self._record(delivery, Attempt(row.id, attempt, "-", A.PERMANENT, 0, reason), park=reason)
            return Park(reason)
        lease = binding.timeout + self.lease_margin
        claimed = await claim(self.sessions, row.id, attempt, lease, binding.name)
        if claimed is None:
            return DONE
        if isinstance(claimed, Busy):
            log.info("delivery_claimed_elsewhere", seconds_left=round(claimed.seconds_left, 1))
            return Wait(min(claimed.seconds_left, self.recheck_seconds), "another attempt holds the claim")
        assert self.wrap_keys is not None
        keys = PartKeys(
            row.id,
            destination_decryption_keys(self.keys, row.destination_id),
            self.wrap_keys,
            stored,
            self.limits.max_inflated_bytes,
        )
        try:
            view = await asyncio.to_thread(build_view, row, self.blobs, blobs, keys, binding.service_name)
        except (ContentKeyError, DecryptionError) as exc:
            reason = f"the stored content cannot be opened: {exc.detail}"
            failure = Attempt(row.id, attempt, "-", A.PERMANENT, 0, reason, type(exc).__name__)
            await self._record(delivery, failure, park=reason)
            return Park(reason)
        return await self._call(delivery, row, binding, view)

    async def _call(self, delivery: Delivery, row: Submission, binding: Binding, view: View) -> Outcome:
        """Call the adapter within the binding's timeout; record the attempt; decide the fate."""
        started = time.monotonic()

        def failed(outcome: A, error: str, exc: BaseException, code: str | None = None) -> Attempt:
            name = type(exc).__name__
            return Attempt(row.id, delivery.attempt, binding.name, outcome, _ms(started), error, name, code)

        try:
            async with asyncio.timeout(binding.timeout):
                receipt = await binding.adapter.deliver(view)
        except PermanentDeliveryError as exc:
            reason = f"the adapter refused it: {exc.detail}"[:1000]
            await self._record(delivery, failed(A.PERMANENT, exc.detail, exc, exc.code), park=reason)
            return Park(reason)
        except TransientDeliveryError as exc:
            await self._record(delivery, failed(A.TRANSIENT, exc.detail, exc))
            return Retry(exc.detail[:500], exc.retry_after, binding.retry)
        except TimeoutError as exc:
            error = f"the adapter did not answer within {binding.timeout:g} s"
            await self._record(delivery, failed(A.TRANSIENT, error, exc))
            return Retry(error, policy=binding.retry)
        except asyncio.CancelledError as exc:
            interrupted = failed(A.INTERRUPTED, "the worker stopped mid-call", exc)
            await asyncio.shield(self._interrupted(delivery, interrupted))
            raise
        except Exception as exc:  # a crash of the adapter: transient by policy, with its traceback
            log.exception("adapter_crashed", adapter=binding.name)
            error = f"{type(exc).__name__}: {exc}"
            await self._record(delivery, failed(A.TRANSIENT, error, exc))
            return Retry(error[:500], policy=binding.retry)
        delivered = Attempt(
            row.id,
            delivery.attempt,
            binding.name,
            A.DELIVERED,
            _ms(started),
            detail=receipt.detail,
            reference=receipt.reference,
        )
        await self._accept(row, delivered)
        return DONE

    async def _interrupted(self, delivery: Delivery, attempt: Attempt) -> None:
        """The worker stops mid-call: record it and release the claim (best effort)."""
        try:
            await self._record(delivery, attempt)
        except Exception:
            log.exception("interrupted_attempt_unrecorded")

    async def _accept(self, row: Submission, attempt: Attempt) -> None:
        signer = destination_signer(self.keys, row.destination_id)
        tags: dict[str, Any] = dict(row.authentication_tags or {})
        token = await signer.sign(ACCEPT, row.id, row.case_id, {"authenticationTags": tags})
        adapter, reference = attempt.adapter, attempt.reference
        async with self.sessions.begin() as session:
            record_attempt(session, attempt)  # the vendor has it, whatever happened to the status meanwhile
            if not await transition(session, row.id, S.VALIDATED, S.DELIVERED, **release_values()):
                log.warning("delivered_after_status_changed", adapter=adapter, reference=reference)
                return
            record_event(session, row, ACCEPT, token)
        log.info("submission_delivered", adapter=adapter, reference=reference, latency_ms=attempt.latency_ms)

    async def _record(self, delivery: Delivery, attempt: Attempt, *, park: str | None = None) -> None:
        """The attempt record and the released claim, together; with a ``park`` reason also the
        step to ``parked`` and the park's record."""
        async with self.sessions.begin() as session:
            record_attempt(session, attempt)
            if park is not None:
                await transition(session, attempt.submission_id, S.VALIDATED, S.PARKED, **release_values())
                await record_parked(
                    session, delivery.origin, delivery.message_id, attempt.submission_id, park
                )
            else:
                await release(session, attempt.submission_id, attempt.attempt)
        context = {"adapter": attempt.adapter, "error": attempt.error, "code": attempt.code}
        if park is not None:
            log.warning("delivery_refused", **context)
        else:
            log.info("delivery_failed", outcome=attempt.outcome.value, **context)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
