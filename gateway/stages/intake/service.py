"""Create, upload, submit: each step checks what is cheap, stores ciphertext as received, and
commits its state change together with its signed event (and, at submit, the outbox row) in one
transaction before the caller gets an answer.

Blobs are written before the transaction that references them. If that transaction fails before
its commit, they are deleted at once; if the commit itself fails, its outcome is unknown, so they
are left to the blob sweep, which removes them only if no row references them. A submit repeated
with the same parts (its first answer was lost) answers as the first did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.access import Principal, authorize, offered_service
from gateway.config.settings import Limits
from gateway.crypto.compact import CompactJwe, CompactScanner, JweFormatError, scan
from gateway.errors import (
    ClientError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from gateway.events.log import add_event
from gateway.events.sets import SetSigner
from gateway.routing.routes import stage_row
from gateway.store import audit
from gateway.store.blobs import BlobStore
from gateway.store.lifecycle import SubmissionStatus, add_submission, still, transition
from gateway.store.models import Attachment, Destination, DestinationKey, Event, Submission
from gateway.store.outbox import add_outbox

log = structlog.get_logger()
S = SubmissionStatus
T = TypeVar("T")


@dataclass(frozen=True)
class NewSubmission:
    destination_id: str
    service_identifier: str
    service_name: str
    attachment_ids: list[str]
    region: str | None = None
    callback_url: str | None = None
    callback_secret: str | None = None


def _jwe_error(exc: JweFormatError) -> ClientError:
    return ClientError(str(exc), slug=exc.reason)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tag(jwe: str | None) -> str | None:
    """The authentication tag of a compact JWE (its fifth segment), as recorded at submit."""
    segments = jwe.split(".") if jwe is not None else []
    return segments[4] if len(segments) == 5 else None


def _same_parts(submission: Submission, metadata: str, data: str | None) -> bool:
    """Whether a submit carries the parts the submission was submitted with."""
    tags = submission.authentication_tags or {}
    return tags.get("metadata") == _tag(metadata) and tags.get("data") == _tag(data)


@dataclass
class Intake:
    """The Submission API's use cases, independent of HTTP."""

    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    limits: Limits
    signer: SetSigner

    async def create(self, principal: Principal, request: NewSubmission) -> Submission:
        """Raises NotFound/Forbidden/InvalidRequest errors; commits the submission and its SET."""
        ids = request.attachment_ids
        if len(ids) > self.limits.max_attachments:
            raise InvalidRequestError(
                f"at most {self.limits.max_attachments} attachments", slug="too-many-attachments"
            )
        if len(set(ids)) != len(ids):
            raise InvalidRequestError(
                "announced attachment ids must be unique", slug="attachment-ids-not-unique"
            )
        async with self.sessions() as session:
            destination = await session.get(Destination, request.destination_id)
        service = offered_service(destination, request.service_identifier, request.region)
        authorize(principal, request.destination_id, service)
        submission = Submission(
            id=str(uuid.uuid4()),
            case_id=str(uuid.uuid4()),
            destination_id=request.destination_id,
            client_id=principal.client_id,
            service_identifier=request.service_identifier,
            service_name=request.service_name,
            status=S.CREATED,
            announced_attachments=ids,
            callback_url=request.callback_url,
            callback_secret=request.callback_secret,
        )
        token = await self.signer.sign("create-submission", submission.id, submission.case_id, {})
        async with self.sessions.begin() as session:
            audit.acting(session, principal.client_id)
            add_submission(session, submission)
            await session.flush()
            add_event(session, submission, "create-submission", token)
        log.info("submission_created", submission_id=submission.id, destination_id=submission.destination_id)
        return submission

    async def _own(self, session: AsyncSession, principal: Principal, submission_id: str) -> Submission:
        submission = await session.get(Submission, submission_id)
        if submission is None or submission.client_id != principal.client_id:
            raise NotFoundError("submission not found", slug="submission-not-found")
        return submission

    async def _kids(self, session: AsyncSession, destination_id: str) -> set[str]:
        rows = await session.scalars(
            select(DestinationKey.kid).where(
                DestinationKey.destination_id == destination_id, DestinationKey.purpose == "encryption"
            )
        )
        return set(rows)

    async def upload_attachment(
        self,
        principal: Principal,
        submission_id: str,
        attachment_id: str,
        body: AsyncIterator[bytes],
        declared_length: int | None,
    ) -> None:
        """Stream one encrypted attachment to the blob store; a re-upload before submit replaces it."""
        async with self.sessions() as session:
            submission = await self._own(session, principal, submission_id)
            if submission.status != S.CREATED:
                raise ConflictError("the submission was already submitted", slug="submission-state-invalid")
            if attachment_id not in submission.announced_attachments:
                raise NotFoundError("attachment was not announced", slug="attachment-not-found")
            kids = await self._kids(session, submission.destination_id)
            others = await session.scalar(
                select(func.coalesce(func.sum(Attachment.size), 0)).where(
                    Attachment.submission_id == submission_id, Attachment.attachment_id != attachment_id
                )
            )
        budget = min(self.limits.max_attachment_bytes, self.limits.max_submission_bytes - int(others or 0))
        if declared_length is not None and declared_length > budget:
            raise PayloadTooLargeError(f"attachment larger than {budget} bytes")
        scanner = CompactScanner(kids)
        digest = hashlib.sha256()
        received = 0

        def inspect(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > budget:
                raise PayloadTooLargeError(f"attachment larger than {budget} bytes")
            scanner.feed(chunk)
            digest.update(chunk)

        try:
            blob, size = await self.blobs.write_stream(body, inspect)
        except JweFormatError as exc:
            raise _jwe_error(exc) from exc
        try:
            jwe = scanner.finish()
        except JweFormatError as exc:
            self.blobs.delete(blob)
            raise _jwe_error(exc) from exc
        detail = {
            "attachment_id": attachment_id,
            "authentication_tag": jwe.tag,
            "ciphertext_sha256": digest.hexdigest(),
        }
        stored = audit.Entry("attachment.stored", submission_id, detail=detail, actor=principal.client_id)
        replaced = await self._record_attachment(submission_id, attachment_id, blob, size, jwe, stored)
        if replaced:
            self.blobs.delete(replaced)
        log.info("attachment_uploaded", submission_id=submission_id, attachment_id=attachment_id, size=size)

    async def _referencing(self, blobs: list[str], work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction that makes rows reference ``blobs`` (see the module)."""
        committing = False
        try:
            async with self.sessions.begin() as session:
                result = await work(session)
                committing = True
        except BaseException:
            if committing:
                log.warning("blobs_left_to_sweep", blobs=len(blobs))
            else:
                for blob in blobs:
                    self.blobs.delete(blob)
            raise
        return result

    async def _record_attachment(
        self,
        submission_id: str,
        attachment_id: str,
        blob: str,
        size: int,
        jwe: CompactJwe,
        stored: audit.Entry,
    ) -> str | None:
        async def record(session: AsyncSession) -> str | None:
            if not await still(session, submission_id, S.CREATED):
                raise ConflictError("the submission was already submitted", slug="submission-state-invalid")
            row = await session.get(Attachment, (submission_id, attachment_id))
            replaced = row.blob if row else None
            await session.merge(
                Attachment(
                    submission_id=submission_id,
                    attachment_id=attachment_id,
                    blob=blob,
                    size=size,
                    authentication_tag=jwe.tag,
                    uploaded_at=_now(),
                )
            )
            audit.record(session, stored)
            return replaced

        return await self._referencing([blob], record)

    async def submit(
        self, principal: Principal, submission_id: str, encrypted_metadata: str, encrypted_data: str | None
    ) -> Submission:
        """Check every part, then commit ``submitted`` + SET + outbox row in one transaction.

        Raises ``ConflictError`` when the submission was already submitted with other parts.
        """
        async with self.sessions() as session:
            submission = await self._own(session, principal, submission_id)
            if submission.status != S.CREATED:
                return self._repeated(submission, encrypted_metadata, encrypted_data)
            rows = (
                await session.scalars(select(Attachment).where(Attachment.submission_id == submission_id))
            ).all()
            kids = await self._kids(session, submission.destination_id)
        uploaded = {row.attachment_id: row.authentication_tag for row in rows}
        missing = [a for a in submission.announced_attachments if a not in uploaded]
        if missing:
            raise InvalidRequestError(
                f"announced attachments not uploaded: {missing}", slug="missing-attachments"
            )
        try:
            metadata = scan(encrypted_metadata, kids)
            data = scan(encrypted_data, kids) if encrypted_data is not None else None
        except JweFormatError as exc:
            raise _jwe_error(exc) from exc
        tags: dict[str, object] = {"metadata": metadata.tag}
        if data is not None:
            tags["data"] = data.tag
        tags["attachments"] = {a: uploaded[a] for a in submission.announced_attachments}
        token = await self.signer.sign(
            "submit-submission", submission.id, submission.case_id, {"authenticationTags": tags}
        )
        blobs: list[str] = []
        try:
            for part in (encrypted_metadata, encrypted_data):
                if part is not None:
                    blobs.append(await self.blobs.write_bytes(part.encode("ascii")))
        except BaseException:
            for blob in blobs:
                self.blobs.delete(blob)
            raise

        ciphertext = {"metadata": audit.sha256(encrypted_metadata)}
        if encrypted_data is not None:
            ciphertext["data"] = audit.sha256(encrypted_data)

        async def record(session: AsyncSession) -> bool:
            audit.acting(session, principal.client_id)
            submitted = await transition(
                session,
                submission_id,
                S.CREATED,
                S.SUBMITTED,
                evidence={"authentication_tags": tags, "ciphertext_sha256": ciphertext},
                metadata_blob=blobs[0],
                data_blob=blobs[1] if len(blobs) > 1 else None,
                authentication_tags=tags,
                submitted_at=_now(),
            )
            if submitted:
                add_event(session, submission, "submit-submission", token)
                add_outbox(session, stage_row("validate", submission))
            return submitted

        if not await self._referencing(blobs, record):  # a concurrent submit won
            for blob in blobs:
                self.blobs.delete(blob)
            async with self.sessions() as session:
                winner = await self._own(session, principal, submission_id)
            return self._repeated(winner, encrypted_metadata, encrypted_data)
        submission.status = S.SUBMITTED
        log.info(
            "submission_submitted", submission_id=submission_id, destination_id=submission.destination_id
        )
        return submission

    def _repeated(self, submission: Submission, metadata: str, data: str | None) -> Submission:
        """A submit of a submitted submission: the first answer again if the parts are the same."""
        if submission.status == S.CREATED or not _same_parts(submission, metadata, data):
            raise ConflictError("the submission was already submitted", slug="submission-state-invalid")
        log.info("submission_submit_repeated", submission_id=submission.id, status=submission.status)
        return submission

    async def event_log(
        self, principal: Principal, *, case_id: str | None = None, submission_id: str | None = None
    ) -> list[str]:
        """The case's SETs in order; unknown and foreign cases look the same (404)."""
        async with self.sessions() as session:
            query = select(Submission).where(Submission.client_id == principal.client_id)
            query = (
                query.where(Submission.case_id == case_id)
                if case_id
                else query.where(Submission.id == submission_id)
            )
            submission = await session.scalar(query)
            if submission is None:
                slug = "case-not-found" if case_id else "submission-not-found"
                raise NotFoundError(f"{slug.split('-')[0]} not found", slug=slug)
            tokens = await session.scalars(
                select(Event.token).where(Event.case_id == submission.case_id).order_by(Event.id)
            )
            return list(tokens)
