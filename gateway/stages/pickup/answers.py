"""The subscriber's side of a pickup: what it may list and fetch, and its answer.

An answer is a Security Event Token the Fachverfahren signs with its own key and posts to
``/v1/cases/{caseId}/events``. It is checked as FIT-Connect's Zustelldienst checks one (and as
the sender will check the outcome):

* a compact JWS with ``alg`` PS512, ``typ`` ``secevent+jwt`` and the ``kid`` of the signing key
  registered for the destination, whose signature verifies with that key;
* ``$schema`` a SET payload schema 1.x, ``jti`` a UUID, ``iat`` a NumericDate, ``iss`` the
  destination, ``sub`` ``submission:<id>`` and ``txn`` ``case:<id>`` of this case, exactly one event;
* ``accept-submission`` with the authentication tags of the *re-encrypted* parts it fetched;
  ``reject-submission`` with a non-empty list of problems (``type`` and ``title`` at least).

The sender never saw the re-encrypted parts, so the sender's outcome is written anew, signed with
the destination's own key (the one the sender verifies destination SETs with): an accept carries
the sender's own authentication tags, a reject the subscriber's problems unchanged.

Every refusal is a :class:`~gateway.errors.ClientError` with a stable slug (see ``docs/subscriber.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto.jws import JwsError, public_key_from_jwk, split, verify_ps512
from gateway.crypto.keys import KeyStore
from gateway.errors import ConflictError, InvalidRequestError, NotFoundError
from gateway.events.log import record_event
from gateway.events.sets import EVENT_PREFIX, SetSigner, destination_signer
from gateway.pools import Pool, run_in
from gateway.routing.subscribers import SubscriberBinding
from gateway.store.blobs import BlobStore
from gateway.store.lifecycle import SubmissionStatus, transition
from gateway.store.models import Submission, utcnow
from gateway.store.pickups import OPEN, Pickup, PickupStatus, open_pickups, step

__all__ = ["Answer", "PickupService"]
log = structlog.get_logger()

ACCEPT, REJECT, NOTIFY = "accept-submission", "reject-submission", "notify-submission"
SET_SCHEMA = re.compile(
    r"^https://schema\.fitko\.de/fit-connect/set-payload/1\.\d+\.\d+/set-payload\.schema\.json$"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_S, _P = SubmissionStatus, PickupStatus


def _invalid(detail: str) -> InvalidRequestError:
    return InvalidRequestError(detail, slug="event-invalid")


@dataclass(frozen=True)
class Answer:
    """A verified answer: which event and its payload."""

    event: str
    payload: dict[str, Any]


def verify_answer(token: str, binding: SubscriberBinding, pickup: Pickup) -> Answer:
    """The subscriber's SET for ``pickup``, checked; raises ``InvalidRequestError`` with slug
    ``event-invalid``, ``event-signature-invalid``, ``event-case-mismatch``,
    ``event-not-supported``, ``authentication-tags-mismatch`` or ``problems-invalid``."""
    try:
        header, _claims, _input, _sig = split(token, "PS512")
    except JwsError as exc:
        raise _invalid(f"not a PS512 compact JWS: {exc.detail}") from exc
    if header.get("typ") != "secevent+jwt":
        raise _invalid("typ must be secevent+jwt")
    key = binding.signing_key
    if header.get("kid") != key["kid"]:
        raise InvalidRequestError(
            "kid is not the signing key registered for this destination", slug="event-signature-invalid"
        )
    try:
        _header, claims = verify_ps512(token, public_key_from_jwk(key))
    except JwsError as exc:
        raise InvalidRequestError("the signature does not verify", slug="event-signature-invalid") from exc
    schema = claims.get("$schema")
    if not isinstance(schema, str) or not SET_SCHEMA.match(schema):
        raise _invalid("$schema must name a FIT-Connect SET payload schema 1.x")
    if not isinstance(claims.get("jti"), str) or not _UUID.match(claims["jti"]):
        raise _invalid("jti must be a UUID")
    if type(claims.get("iat")) is not int or claims["iat"] < 1577833200:
        raise _invalid("iat must be a NumericDate")
    events = claims.get("events")
    if not isinstance(events, dict) or len(events) != 1:
        raise _invalid("events must hold exactly one event")
    mismatch = [
        name
        for name, value, expected in (
            ("iss", claims.get("iss"), pickup.destination_id),
            ("sub", claims.get("sub"), f"submission:{pickup.submission_id}"),
            ("txn", claims.get("txn"), f"case:{pickup.case_id}"),
        )
        if not isinstance(value, str) or value.lower() != expected.lower()
    ]
    if mismatch:
        raise InvalidRequestError(
            f"{', '.join(mismatch)} do not name this destination, submission and case",
            slug="event-case-mismatch",
        )
    ((uri, payload),) = events.items()
    name = uri.removeprefix(EVENT_PREFIX) if isinstance(uri, str) else ""
    if name not in (ACCEPT, REJECT) or not uri.startswith(EVENT_PREFIX):
        raise InvalidRequestError(
            f"{uri} is not accept-submission or reject-submission", slug="event-not-supported"
        )
    if not isinstance(payload, dict):
        raise _invalid("the event payload must be an object")
    if name == ACCEPT:
        if payload.get("authenticationTags") != _expected_tags(pickup):
            raise InvalidRequestError(
                "authenticationTags differ from those of the parts this destination fetched",
                slug="authentication-tags-mismatch",
            )
        return Answer(ACCEPT, payload)
    problems = payload.get("problems")
    if (
        not isinstance(problems, list)
        or not problems
        or not all(
            isinstance(p, dict)
            and isinstance(p.get("type"), str)
            and isinstance(p.get("title"), str)
            and all(isinstance(p.get(k, ""), str) for k in ("detail", "instance"))
            for p in problems
        )
    ):
        raise InvalidRequestError(
            "reject-submission needs problems, each with type and title", slug="problems-invalid"
        )
    return Answer(REJECT, {"problems": problems})


def _expected_tags(pickup: Pickup) -> dict[str, Any]:
    tags = pickup.authentication_tags
    out: dict[str, Any] = {"metadata": tags["metadata"], "attachments": dict(tags.get("attachments", {}))}
    if "data" in tags:
        out["data"] = tags["data"]
    return out


@dataclass(frozen=True)
class PickupService:
    """The subscriber routes' operations on the pickups of the caller's destinations."""

    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    keys: KeyStore
    signer: SetSigner  #: the gateway's own (notify-submission)

    async def page(self, destinations: list[str], offset: int, limit: int) -> tuple[list[Pickup], int]:
        async with self.sessions() as session:
            return await open_pickups(session, destinations, offset, limit)

    async def _open(self, session: AsyncSession, submission_id: str, destinations: list[str]) -> Pickup:
        pickup = await session.get(Pickup, submission_id)
        if pickup is None or pickup.destination_id not in destinations:
            raise NotFoundError("submission not found", slug="submission-not-found")
        return pickup

    async def fetch(
        self, submission_id: str, destinations: list[str]
    ) -> tuple[Pickup, Submission, str, str | None]:
        """The pickup, its submission and the re-encrypted metadata and data; the first fetch
        writes ``notify-submission`` to the sender's log. Raises ``NotFoundError``."""
        async with self.sessions() as session:
            pickup = await self._open(session, submission_id, destinations)
            row = await session.get(Submission, submission_id)
        assert row is not None
        if pickup.status == _P.WAITING:
            tags = dict(row.authentication_tags or {})
            token = await self.signer.sign(NOTIFY, row.id, row.case_id, {"authenticationTags": tags})
            async with self.sessions.begin() as session:
                if await step(session, row.id, (_P.WAITING,), _P.PICKED_UP, picked_up_at=utcnow()):
                    record_event(session, row, NOTIFY, token)
                    log.info("submission_picked_up", submission_id=row.id)
        metadata = self.blobs.read_bytes(pickup.metadata_blob).decode("ascii")
        data = self.blobs.read_bytes(pickup.data_blob).decode("ascii") if pickup.data_blob else None
        return pickup, row, metadata, data

    async def attachment(self, submission_id: str, attachment_id: str, destinations: list[str]) -> Path:
        """The blob of one re-encrypted attachment; raises ``NotFoundError``."""
        async with self.sessions() as session:
            pickup = await self._open(session, submission_id, destinations)
        blob = pickup.attachment_blobs.get(attachment_id)
        if blob is None:
            raise NotFoundError("attachment not found", slug="attachment-not-found")
        return self.blobs.path(blob)

    async def answer(self, case_id: str, token: str, bindings: dict[str, SubscriberBinding]) -> str:
        """Check the subscriber's SET and write the sender's outcome; returns the event name.

        Raises ``NotFoundError`` (``case-not-found``), ``ConflictError``
        (``submission-state-invalid``: not fetched yet, or answered) and what
        :func:`verify_answer` raises."""
        async with self.sessions() as session:
            pickup = await session.scalar(select(Pickup).where(Pickup.case_id == case_id.lower()))
            if pickup is None or pickup.destination_id not in bindings:
                raise NotFoundError("case not found", slug="case-not-found")
            row = await session.get(Submission, pickup.submission_id)
        assert row is not None
        answer = await run_in(Pool.SIGNING, verify_answer, token, bindings[pickup.destination_id], pickup)
        if pickup.status not in OPEN or pickup.status == _P.WAITING:
            raise ConflictError(
                f"the submission is {pickup.status}: fetch it first, answer once",
                slug="submission-state-invalid",
            )
        signer = destination_signer(self.keys, pickup.destination_id)
        if answer.event == ACCEPT:
            outcome = {"authenticationTags": dict(row.authentication_tags or {})}
            target, status = _S.DELIVERED, _P.ACCEPTED
        else:
            outcome, target, status = answer.payload, _S.REJECTED, _P.REJECTED
        sender_token = await signer.sign(answer.event, row.id, row.case_id, outcome)
        async with self.sessions.begin() as session:
            answered = await step(
                session, row.id, (_P.PICKED_UP,), status, answered_at=utcnow(), answer_token=token
            )
            if not answered or not await transition(
                session, row.id, _S.VALIDATED, target, evidence={"subscriber": answer.event}
            ):
                raise ConflictError("the submission was answered already", slug="submission-state-invalid")
            record_event(session, row, answer.event, sender_token)
        log.info("subscriber_answered", submission_id=row.id, answer=answer.event)
        return answer.event
