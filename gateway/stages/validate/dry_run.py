"""A dry run of a whole submission: intake's cheap checks, then the stage's content checks.

Nothing is stored, signed or delivered. What intake would refuse with an HTTP error (unknown
or inactive destination, service not offered, client not allowed, too many or too large parts,
a JWE that is not compact or whose header is not allow-listed) is refused the same way here;
what the validation stage would reject comes back as the list of problems a
``reject-submission`` event would carry. Only the event-log comparison of authentication tags
is skipped (there is no event log yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
from sqlalchemy import select

from gateway.access import Principal, authorize, offered_service
from gateway.content.checks import Subject, check_submission
from gateway.content.parts import Sealed, SealedParts
from gateway.content.problems import Problem
from gateway.crypto.compact import JweFormatError, scan
from gateway.crypto.keyring import destination_decryption_keys
from gateway.errors import ClientError, InvalidRequestError, PayloadTooLargeError
from gateway.pools import Pool, run_in
from gateway.stages.validate.stage import Validator
from gateway.store.models import Destination, DestinationKey

__all__ = ["DryRun", "dry_run"]

log = structlog.get_logger()


@dataclass(frozen=True)
class DryRun:
    """A submission as the sender would send it, all parts as compact JWEs."""

    destination_id: str
    service_identifier: str
    encrypted_metadata: str
    encrypted_data: str | None = None
    attachments: Mapping[str, str] = field(default_factory=dict)


def _check_sizes(validator: Validator, request: DryRun) -> None:
    limits = validator.limits
    if len(request.attachments) > limits.max_attachments:
        raise InvalidRequestError(
            f"at most {limits.max_attachments} attachments", slug="too-many-attachments"
        )
    sizes = [len(token) for token in request.attachments.values()]
    if any(size > limits.max_attachment_bytes for size in sizes):
        raise PayloadTooLargeError(f"attachment larger than {limits.max_attachment_bytes} bytes")
    if sum(sizes) > limits.max_submission_bytes:
        raise PayloadTooLargeError(f"attachments larger than {limits.max_submission_bytes} bytes in total")


async def dry_run(validator: Validator, principal: Principal, request: DryRun) -> list[Problem]:
    """The problems a submission would be rejected with (empty: it would be validated).

    Raises what intake raises: ``NotFoundError``, ``ForbiddenError``, ``InvalidRequestError``,
    ``PayloadTooLargeError``, ``ClientError`` (slug ``jwe-…``) for a JWE intake would refuse.
    """
    _check_sizes(validator, request)
    async with validator.sessions() as session:
        destination = await session.get(Destination, request.destination_id)
        kids = set(
            await session.scalars(
                select(DestinationKey.kid).where(
                    DestinationKey.destination_id == request.destination_id,
                    DestinationKey.purpose == "encryption",
                )
            )
        )
    service = offered_service(destination, request.service_identifier, None)
    authorize(principal, request.destination_id, service)
    assert destination is not None  # offered_service raised otherwise
    tokens = {
        "metadata": request.encrypted_metadata,
        **{f"attachment {a}": t for a, t in request.attachments.items()},
    }
    if request.encrypted_data is not None:
        tokens["data"] = request.encrypted_data
    for name, token in tokens.items():
        try:
            scan(token, kids)
        except JweFormatError as exc:
            raise ClientError(f"{name}: {exc}", slug=exc.reason) from exc
    parts = SealedParts(
        metadata=Sealed.of_token(request.encrypted_metadata),
        data=Sealed.of_token(request.encrypted_data) if request.encrypted_data is not None else None,
        attachments={aid: Sealed.of_token(token) for aid, token in request.attachments.items()},
    )
    subject = Subject.of(destination, request.service_identifier, list(request.attachments))
    keys = destination_decryption_keys(validator.keys, request.destination_id)
    problems = await run_in(
        Pool.DRY_RUN,
        check_submission,
        parts,
        subject,
        keys,
        validator.schemas,
        validator.limits,
        dry_run=True,
    )
    log.info(
        "dry_run_checked",
        client_id=principal.client_id,
        destination_id=request.destination_id,
        valid=not problems,
        problems=[f"{p.slug}@{p.instance}" for p in problems],
    )
    return problems
