"""The validate stage: one submitted submission in, ``validated`` or ``rejected`` out.

:class:`Validator` is the validate queue's handler. :meth:`Validator.process` is idempotent by
(stage, submission id): a submission that is not ``submitted`` (unknown, already validated or
rejected) is left alone and reported as ``skipped``. Otherwise it

1. compares the authentication tags of the stored JWEs (the 5th segment of each blob) with
   those in the gateway-signed ``submit-submission`` SET (``incorrect-authentication-tag``;
   ``invalid-event-log`` when that SET is missing or does not verify);
2. runs :func:`~gateway.content.checks.check_submission` (decryption with any encryption key
   of the destination, metadata, attachments, hashes, data schema);
3. commits, in ONE transaction guarded by ``WHERE status = 'submitted'``: either ``rejected``
   plus a ``reject-submission`` SET signed by the destination (and the sender's callback), or
   ``validated`` plus the outbox row for delivery (queue ``deliver.<destination id>``) and each
   part's content key re-wrapped under the local wrap key (:mod:`gateway.crypto.keywrap`,
   :mod:`gateway.store.content_keys`), so the deliver stage needs no RSA again.

Content problems become rejects (logged without traceback); anything unexpected (database,
missing blob, no signing key) propagates, and the fabric retries the message later. When the
fabric parks it (retries exhausted, delivery limit), :meth:`Validator.parked` rejects the
submission with ``technical-error`` so the sender learns the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker import DONE, Delivery, Outcome, Park
from gateway.config.settings import Limits
from gateway.content.checks import JsonSchemas, NoJsonSchemas, Schemas, Subject, check_submission
from gateway.content.parts import Sealed, SealedParts, stored_tag
from gateway.content.problems import Problem, attachment
from gateway.crypto.jws import JwsError, split, verify_ps512
from gateway.crypto.keyring import destination_decryption_keys
from gateway.crypto.keys import KeyStore
from gateway.crypto.keywrap import WrapKeys, part_binding
from gateway.events.log import record_event
from gateway.events.sets import destination_signer, event_uri
from gateway.pools import Pool, run_in
from gateway.routing.routes import StageMessage, stage_row
from gateway.store.blobs import BlobStore
from gateway.store.content_keys import StoredKey, add_content_keys
from gateway.store.lifecycle import SubmissionStatus, transition
from gateway.store.models import Attachment, Destination, Event, Submission
from gateway.store.outbox import add_outbox
from gateway.store.parking import record_parked
from gateway.validation import MetadataSchemas, SchemaCatalogue

__all__ = ["ValidationOutcome", "Validator"]

log = structlog.get_logger()
SUBMIT = "submit-submission"
S = SubmissionStatus


@dataclass(frozen=True)
class ValidationOutcome:
    """What :meth:`Validator.process` did; ``detail`` says why a submission was skipped."""

    submission_id: str
    status: Literal["validated", "rejected", "skipped"]
    problems: tuple[Problem, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class _Loaded:
    submission: Submission
    destination: Destination
    attachments: dict[str, Attachment]
    submit_token: str | None


class Validator:
    """The validation stage; build once per process (schemas are loaded by the caller)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        keys: KeyStore,
        catalogue: SchemaCatalogue,
        metadata_schemas: MetadataSchemas,
        limits: Limits,
        *,
        json_schemas: JsonSchemas | None = None,
        wrap_keys: WrapKeys | None = None,
    ) -> None:
        self.sessions = sessions
        self.blobs = blobs
        self.keys = keys
        self.wrap_keys = wrap_keys or WrapKeys(keys.root / "gateway")
        self.limits = limits
        self.schemas = Schemas(catalogue, metadata_schemas, json_schemas or NoJsonSchemas())

    async def process(self, submission_id: str) -> ValidationOutcome:
        """Validate one submission; raises only for unexpected (retryable) failures."""
        with structlog.contextvars.bound_contextvars(submission_id=submission_id):
            loaded = await self._load(submission_id)
            if isinstance(loaded, ValidationOutcome):
                log.info("validation_skipped", detail=loaded.detail)
                return loaded
            problems, wrapped = await run_in(Pool.CONTENT, self._check, loaded)
            return await self._conclude(loaded, problems, wrapped)

    async def handle(self, delivery: Delivery) -> Outcome:
        """The validate queue's handler: unexpected failures propagate (the fabric retries)."""
        await self.process(StageMessage.parse(delivery.envelope).submission_id)
        return DONE

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        """A submission the stage failed on for good is rejected with ``technical-error``; one
        that was validated or rejected meanwhile needs nothing (its message is dropped)."""
        submission_id = StageMessage.parse(delivery.envelope).submission_id
        if (await self.give_up(submission_id)).status == "skipped":
            return DONE
        async with self.sessions.begin() as session:
            await record_parked(session, delivery.origin, delivery.message_id, submission_id, reason)
        log.warning("validation_parked", submission_id=submission_id, reason=reason)
        return Park(reason)

    async def give_up(self, submission_id: str) -> ValidationOutcome:
        """Reject with ``technical-error`` a submission the stage failed on for its whole retry
        budget, so the sender learns the outcome instead of waiting for it forever."""
        with structlog.contextvars.bound_contextvars(submission_id=submission_id):
            loaded = await self._load(submission_id)
            if isinstance(loaded, ValidationOutcome):
                return loaded
            detail = "the submission could not be processed; please send it again or contact the authority"
            return await self._conclude(loaded, [Problem("technical-error", "submission", detail)], {})

    async def _load(self, submission_id: str) -> _Loaded | ValidationOutcome:
        async with self.sessions() as session:
            submission = await session.get(Submission, submission_id)
            if submission is None:
                return ValidationOutcome(submission_id, "skipped", detail="unknown submission")
            if submission.status != S.SUBMITTED:
                return ValidationOutcome(submission_id, "skipped", detail=f"status is {submission.status}")
            destination = await session.get(Destination, submission.destination_id)
            assert destination is not None  # foreign key
            rows = await session.scalars(select(Attachment).where(Attachment.submission_id == submission_id))
            token = await session.scalar(
                select(Event.token)
                .where(Event.submission_id == submission_id, Event.event == SUBMIT)
                .order_by(Event.id.desc())
            )
            return _Loaded(submission, destination, {row.attachment_id: row for row in rows}, token)

    def _check(self, loaded: _Loaded) -> tuple[list[Problem], dict[str, StoredKey]]:
        """Blocking part (file I/O, crypto, parsing): runs in a worker thread. A valid
        submission's content keys come back wrapped under the local wrap key, by part."""
        problems = self._compare_tags(loaded)
        if problems:
            return problems, {}
        submission = loaded.submission
        parts = SealedParts(
            metadata=Sealed.of_file(self.blobs.path(str(submission.metadata_blob))),
            data=Sealed.of_file(self.blobs.path(submission.data_blob)) if submission.data_blob else None,
            attachments={
                aid: Sealed.of_file(self.blobs.path(loaded.attachments[aid].blob))
                for aid in submission.announced_attachments
            },
        )
        subject = Subject.of(
            loaded.destination, submission.service_identifier, submission.announced_attachments
        )
        keys = destination_decryption_keys(self.keys, submission.destination_id)
        content_keys: dict[str, bytes] = {}
        problems = check_submission(
            parts, subject, keys, self.schemas, self.limits, content_keys=content_keys
        )
        if problems:
            return problems, {}
        blobs = {"metadata": submission.metadata_blob, "data": submission.data_blob} | {
            attachment(aid): loaded.attachments[aid].blob for aid in submission.announced_attachments
        }
        wrapped: dict[str, StoredKey] = {}
        for part, cek in content_keys.items():
            key = self.wrap_keys.wrap(cek, part_binding(submission.id, part, str(blobs[part])))
            wrapped[part] = StoredKey(key.kid, key.wrapped)
        content_keys.clear()
        return [], wrapped

    def _submitted_tags(self, loaded: _Loaded) -> dict[str, Any] | None:
        """The ``authenticationTags`` of the gateway-signed submit event, if it verifies."""
        if loaded.submit_token is None:
            return None
        signers = {pair.kid: pair.private_key.public_key() for pair in self.keys.keys("gateway")}
        try:
            header, _claims, _input, _sig = split(loaded.submit_token, "PS512")
            key = signers.get(str(header.get("kid")))
            if key is None:
                return None
            _header, claims = verify_ps512(loaded.submit_token, key)
        except JwsError:
            return None
        if claims.get("sub") != f"submission:{loaded.submission.id}":
            return None
        events = claims.get("events")
        payload = events.get(event_uri(SUBMIT)) if isinstance(events, dict) else None
        tags = payload.get("authenticationTags") if isinstance(payload, dict) else None
        return tags if isinstance(tags, dict) else None

    def _compare_tags(self, loaded: _Loaded) -> list[Problem]:
        tags = self._submitted_tags(loaded)
        if tags is None:
            return [Problem("invalid-event-log", "submission", "no verifiable submit-submission event")]
        submission = loaded.submission
        problems: list[Problem] = []

        def compare(instance: str, expected: object, blob: str | None, required: bool = False) -> None:
            actual = stored_tag(self.blobs.path(blob)) if blob else None
            if expected is None and actual is None and not required:
                return
            if not isinstance(expected, str) or expected != actual:
                detail = f"the stored {instance} does not carry the authentication tag of the submit event"
                problems.append(Problem("incorrect-authentication-tag", instance, detail))

        compare("metadata", tags.get("metadata"), submission.metadata_blob)
        compare("data", tags.get("data"), submission.data_blob)
        expected = tags.get("attachments")
        expected = expected if isinstance(expected, dict) else {}
        ids = dict.fromkeys([*submission.announced_attachments, *expected, *loaded.attachments])
        announced = set(submission.announced_attachments)
        for aid in ids:
            row = loaded.attachments.get(aid)
            blob = row.blob if row is not None and aid in announced else None
            compare(attachment(aid), expected.get(aid), blob, required=aid in announced)
        return problems

    async def _conclude(
        self, loaded: _Loaded, problems: list[Problem], wrapped: dict[str, StoredKey]
    ) -> ValidationOutcome:
        submission = loaded.submission
        status = S.REJECTED if problems else S.VALIDATED
        token = None
        if problems:
            signer = destination_signer(self.keys, submission.destination_id)
            payload = {"problems": [p.as_json() for p in problems]}
            token = await signer.sign("reject-submission", submission.id, submission.case_id, payload)
        async with self.sessions.begin() as session:
            if not await transition(session, submission.id, S.SUBMITTED, status):
                log.info("validation_skipped", detail="processed concurrently")
                return ValidationOutcome(submission.id, "skipped", detail="processed concurrently")
            if token is not None:
                record_event(session, submission, "reject-submission", token)
            else:
                add_outbox(session, stage_row("deliver", submission))
                await add_content_keys(session, submission.id, wrapped)
        if problems:
            log.info(
                "submission_rejected",
                destination_id=submission.destination_id,
                problems=[f"{p.slug}@{p.instance}" for p in problems],
            )
        else:
            log.info("submission_validated", destination_id=submission.destination_id)
        return ValidationOutcome(submission.id, "rejected" if problems else "validated", tuple(problems))
