"""Parked submissions for operators: list, show, replay, reject (``xgw parked``, ``/admin/v1``).

**Replay** re-enqueues from the database, never by moving broker messages: each submission is
checked again (its parts decrypt with the destination's keys and pass the content checks the
validate stage ran), then ``parked`` → ``validated`` is committed with the deliver stage's outbox
row, and the relay publishes it. The message id stays ``deliver:<submission id>`` and the adapter
sees the same submission id, so the vendor can recognise a repeat; attempt numbers continue from
the record (the deliver stage numbers an attempt after the highest recorded). A submission that
fails the check stays parked, with its problems in the result. The copy in
``<ns>.parked.deliver.<destination>`` stays harmless: moved back by hand it finds the submission
delivered (dropped) or claimed (it waits), never calls the vendor a second time; the workers drain
such stale copies (:mod:`gateway.stages.parked_copies`).

**Reject** signs a ``reject-submission`` with ``technical-error`` with the destination's key (as
the stages do) and commits it with ``parked`` → ``rejected``, so the sender learns the outcome.

An operator sees and acts on the destinations of its scope only; every action is recorded in the
audit log with the operator's id and reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from gateway.config.settings import Limits
from gateway.content.checks import Schemas, Subject, check_submission
from gateway.content.parts import Sealed, SealedParts
from gateway.content.problems import Problem
from gateway.crypto.keyring import destination_decryption_keys
from gateway.crypto.keys import KeyStore
from gateway.errors import NotFoundError
from gateway.events.log import record_event
from gateway.events.sets import destination_signer
from gateway.pools import Pool, run_in
from gateway.routing.routes import stage_row
from gateway.store.blobs import BlobStore
from gateway.store.parked import ParkedFilter, ParkedStore, ParkedSubmission, Stored

__all__ = ["Operator", "ParkedService", "ReplayResult", "TECHNICAL_ERROR", "as_json"]

log = structlog.get_logger()
REJECT = "reject-submission"
#: What the sender reads in the ``technical-error`` problem of an operator's rejection.
TECHNICAL_ERROR = (
    "the submission could not be delivered to the authority; please send it again or contact the authority"
)


@dataclass(frozen=True)
class Operator:
    """Who acts: an id for the audit log and the destinations it may touch (``None``: all)."""

    id: str
    destinations: Collection[str] | None = None

    def sees(self, destination_id: str) -> bool:
        return self.destinations is None or destination_id in self.destinations


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did with one submission; ``problems`` say why a check failed."""

    submission_id: str
    destination_id: str
    outcome: Literal["replayed", "would-replay", "failed-check", "not-parked"]
    problems: tuple[str, ...] = ()


def as_json(value: ParkedSubmission | ReplayResult) -> dict[str, Any]:
    """A parked submission or replay result as JSON (times in ISO 8601)."""
    out = dataclasses.asdict(value)
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in out.items()}


class ParkedService:
    """The operations on parked submissions."""

    def __init__(
        self,
        store: ParkedStore,
        blobs: BlobStore,
        keys: KeyStore,
        schemas: Schemas,
        limits: Limits,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.keys = keys
        self.schemas = schemas
        self.limits = limits

    async def find(self, operator: Operator, which: ParkedFilter) -> list[ParkedSubmission]:
        """The parked submissions ``which`` selects among those ``operator`` may see."""
        return await self.store.select(dataclasses.replace(which, destinations=operator.destinations))

    async def show(self, operator: Operator, submission_id: str) -> ParkedSubmission:
        """One parked submission; raises ``NotFoundError`` if there is none in the scope."""
        found = await self.find(operator, ParkedFilter(submission_id=submission_id))
        if not found:
            raise NotFoundError(f"no parked submission {submission_id!r}", slug="submission-not-found")
        return found[0]

    async def replay(
        self,
        operator: Operator,
        which: ParkedFilter,
        why: str,
        *,
        dry_run: bool = False,
        progress: Callable[[ReplayResult], None] = lambda _: None,
    ) -> list[ReplayResult]:
        """Check and re-enqueue every parked submission ``which`` selects (``dry_run``: only
        check); ``progress`` hears of each as it is done."""
        results: list[ReplayResult] = []
        for item in await self.find(operator, which):
            result = await self._replay_one(operator, item, why, dry_run)
            results.append(result)
            progress(result)
        return results

    async def _replay_one(
        self, operator: Operator, item: ParkedSubmission, why: str, dry_run: bool
    ) -> ReplayResult:
        def result(outcome: Any, problems: tuple[str, ...] = ()) -> ReplayResult:
            return ReplayResult(item.submission_id, item.destination_id, outcome, problems)

        stored = await self.store.stored(item.submission_id)
        if stored is None:
            return result("not-parked")
        problems = await run_in(Pool.CONTENT, self._check, stored)
        if problems:
            found = tuple(f"{p.slug}@{p.instance}: {p.detail}" for p in problems)
            log.warning("replay_check_failed", submission_id=item.submission_id, problems=found)
            return result("failed-check", found)
        if dry_run:
            return result("would-replay")
        row = stage_row("deliver", stored.submission)
        if not await self.store.unpark(stored.submission, row, operator.id, why):
            return result("not-parked")
        log.info("submission_replayed", submission_id=item.submission_id, operator=operator.id, why=why)
        return result("replayed")

    def _check(self, stored: Stored) -> list[Problem]:
        """The validate stage's content checks again (blocking: runs in a worker thread)."""
        row = stored.submission
        if row.metadata_blob is None or not self.blobs.path(row.metadata_blob).exists():
            return [Problem("technical-error", "submission", "the stored parts are gone (retention)")]
        parts = SealedParts(
            metadata=Sealed.of_file(self.blobs.path(row.metadata_blob)),
            data=Sealed.of_file(self.blobs.path(row.data_blob)) if row.data_blob else None,
            attachments={
                aid: Sealed.of_file(self.blobs.path(stored.attachments[aid].blob))
                for aid in row.announced_attachments
            },
        )
        subject = Subject.of(stored.destination, row.service_identifier, row.announced_attachments)
        keys = destination_decryption_keys(self.keys, row.destination_id)
        return check_submission(parts, subject, keys, self.schemas, self.limits)

    async def reject(self, operator: Operator, submission_id: str, why: str) -> ParkedSubmission:
        """Reject a parked submission with a destination-signed ``technical-error``; raises
        ``NotFoundError`` if it is not parked (or not in the scope)."""
        item = await self.show(operator, submission_id)
        stored = await self.store.stored(submission_id)
        assert stored is not None  # just listed
        row = stored.submission
        signer = destination_signer(self.keys, row.destination_id)
        problem = Problem("technical-error", "submission", TECHNICAL_ERROR)
        token = await signer.sign(REJECT, row.id, row.case_id, {"problems": [problem.as_json()]})
        also = lambda session, submission: record_event(session, submission, REJECT, token)  # noqa: E731
        if not await self.store.reject(row, operator.id, why, also):
            raise NotFoundError(f"no parked submission {submission_id!r}", slug="submission-not-found")
        log.info("parked_submission_rejected", submission_id=row.id, operator=operator.id, why=why)
        return item
