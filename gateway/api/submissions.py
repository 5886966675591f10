"""The FIT-Connect Submission API for senders, under ``/v1`` and ``/v2``.

v2 differs in names only: ``publicService`` for ``serviceType``, ``publicServices`` for
``services``, both ``encryptedMetadata`` and ``encryptedData`` required at submit, the event
log also by submission and paged (``offset``, ``limit``), and a destination's keys as one list.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.api import openapi
from gateway.api.addressing import public_keys
from gateway.api.auth import CurrentClient
from gateway.api.body import declared_length, read_json_object, require_media_type
from gateway.api.deps import Contacts, IntakeService, LimitsOf, Sessions
from gateway.errors import ClientError, InvalidRequestError, NotFoundError
from gateway.stages.intake.service import NewSubmission
from gateway.store.directory import public_keys_of
from gateway.store.models import Destination, DestinationKey, Submission

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
Version = Literal["v1", "v2"]


def path_id(value: str, slug: str) -> str:
    """A path id must be a canonical UUID; anything else is simply not found (lower-cased)."""
    if not UUID.match(value):
        raise NotFoundError(f"{slug.rsplit('-', 2)[0]} not found", slug=slug)
    return value.lower()


def submission_path_id(value: str) -> str:
    """The submission id of the path, also bound to every log line of this request."""
    sid = path_id(value, "submission-not-found")
    structlog.contextvars.bind_contextvars(submission_id=sid)
    return sid


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ServiceRef(_Body):
    name: str = Field("", max_length=255)
    identifier: str = Field(min_length=1, max_length=255)


class Callback(_Body):
    url: str = Field(pattern=r"^https?://", max_length=2048)
    secret: str = Field(min_length=32, max_length=512)


class CreateRequest(_Body):
    destination_id: str = Field(alias="destinationId", pattern=UUID.pattern)
    announced_attachments: list[str] = Field(
        default_factory=list, alias="announcedAttachments", max_length=10_000
    )
    service_type: ServiceRef | None = Field(None, alias="serviceType")
    public_service: ServiceRef | None = Field(None, alias="publicService")
    region: str | None = Field(None, max_length=12)
    callback: Callback | None = None


class SubmitRequest(_Body):
    encrypted_metadata: str = Field(alias="encryptedMetadata", min_length=1)
    encrypted_data: str | None = Field(None, alias="encryptedData", min_length=1)


class SubmissionReference(BaseModel):
    """The answer of create and submit: the ids a sender keeps."""

    destinationId: str  # the names on the wire
    submissionId: str
    caseId: str


class EventLog(BaseModel):
    """The case's Security Event Tokens (signed JWTs), oldest first."""

    eventLog: list[str]


def parse_body(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """Validate a JSON body against ``model``; the first error becomes a 422 with its field path."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequestError(f"{where}: {first['msg']}", slug="request-body-invalid") from exc


def destination_view(
    destination: Destination, version: Version, contact: dict[str, Any] | None = None
) -> dict[str, Any]:
    services = [
        {
            "identifier": s["identifier"],
            "name": s["name"],
            "submissionSchemas": [
                {"schemaUri": x["schema_uri"], "mimeType": x["mime_type"]} for x in s["submission_schemas"]
            ],
            "regions": s["regions"],
            **({"replyChannels": s["reply_channels"]} if s["reply_channels"] else {}),
        }
        for s in destination.services
    ]
    view: dict[str, Any] = {
        "destinationId": destination.id,
        "name": destination.name,
        "status": destination.status,
        "services" if version == "v1" else "publicServices": services,
        "encryptionKid": destination.encryption_kid,
        "metadataVersions": destination.metadata_versions,
        "replyChannels": destination.reply_channels,
    }
    if contact:
        view["contactInformation"] = contact
    return view


def _page(entries: list[str], offset: str | None, limit: str | None) -> list[str]:
    """``entries[offset:offset + limit]``; both optional non-negative integers, else 400."""
    bounds = []
    for name, value in (("offset", offset), ("limit", limit)):
        if value is not None and not (value.isdecimal() and len(value) <= 9):
            raise ClientError(f"{name} must be a non-negative integer", slug="query-invalid")
        bounds.append(None if value is None else int(value))
    start = bounds[0] or 0
    return entries[start:] if bounds[1] is None else entries[start : start + bounds[1]]


def _reference(submission: Submission) -> dict[str, str]:
    return {
        "destinationId": submission.destination_id,
        "submissionId": submission.id,
        "caseId": submission.case_id,
    }


def _create_example(version: Version) -> dict[str, Any]:
    service = {"identifier": "urn:de:fim:leika:leistung:99066006001000", "name": "Baugenehmigung"}
    return {
        "destinationId": "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01",
        "serviceType" if version == "v1" else "publicService": service,
        "announcedAttachments": ["0b8f3b8e-4d0c-4b8e-9a53-52d0f0f8d0a1"],
        "region": "064350014014",
    }


_OFFSET = "events to skip, default 0"
_LIMIT = "most events to return, default all"
_SUBMIT_EXAMPLE = {"encryptedMetadata": openapi.JWE_EXAMPLE, "encryptedData": openapi.JWE_EXAMPLE}


def build_router(version: Version) -> APIRouter:
    router = APIRouter(prefix=f"/{version}")
    own = ("submission-not-found", *openapi.BEARER)

    @router.get(
        "/destinations/{destination_id}",
        summary="Read a destination",
        tags=[openapi.ROUTING],
        responses=openapi.problems(*openapi.BEARER, "destination-not-found"),
    )
    async def get_destination(
        client: CurrentClient, sessions: Sessions, contacts: Contacts, destination_id: str
    ) -> dict[str, Any]:
        dest_id = path_id(destination_id, "destination-not-found")
        async with sessions() as session:
            destination = await session.get(Destination, dest_id)
        if destination is None:
            raise NotFoundError("destination not found", slug="destination-not-found")
        return destination_view(destination, version, contacts.get(dest_id))

    @router.get(
        "/destinations/{destination_id}/keys/{kid}",
        summary="Read a destination's public key (no token needed)",
        tags=[openapi.KEYS],
        responses=openapi.problems("destination-not-found", "key-not-found"),
    )
    async def get_key(sessions: Sessions, destination_id: str, kid: str) -> dict[str, Any]:
        dest_id = path_id(destination_id, "destination-not-found")
        async with sessions() as session:
            key = await session.get(DestinationKey, (dest_id, kid[:128]))
        if key is None:
            raise NotFoundError("key not found", slug="key-not-found")
        return key.public_jwk

    @router.post(
        "/submissions",
        status_code=201,
        response_model=SubmissionReference,
        summary="Create a submission",
        tags=[openapi.SENDER],
        responses=openapi.problems(
            *openapi.BEARER,
            *openapi.BODY,
            *openapi.ACCESS,
            *openapi.STORES,
            "too-many-attachments",
            "attachment-ids-not-unique",
        ),
        openapi_extra=openapi.json_body(
            CreateRequest,
            _create_example(version),
            f"`{'serviceType' if version == 'v1' else 'publicService'}` is required; "
            "`announcedAttachments` are the ids of the attachments uploaded next.",
        ),
    )
    async def create_submission(
        request: Request, client: CurrentClient, limits: LimitsOf, intake: IntakeService
    ) -> dict[str, str]:
        body = parse_body(CreateRequest, await read_json_object(request, limits.max_json_body_bytes))
        service = body.service_type if version == "v1" else body.public_service
        if service is None:
            field = "serviceType" if version == "v1" else "publicService"
            raise InvalidRequestError(f"{field} is required", slug="request-body-invalid")
        ids = body.announced_attachments
        if not all(UUID.match(a) for a in ids):
            raise InvalidRequestError("announcedAttachments must be UUIDs", slug="request-body-invalid")
        submission = await intake.create(
            client,
            NewSubmission(
                destination_id=body.destination_id.lower(),
                service_identifier=service.identifier,
                service_name=service.name,
                attachment_ids=[a.lower() for a in ids],
                region=body.region,
                callback_url=body.callback.url if body.callback else None,
                callback_secret=body.callback.secret if body.callback else None,
            ),
        )
        return _reference(submission)

    @router.put(
        "/submissions/{submission_id}/attachments/{attachment_id}",
        status_code=204,
        response_class=Response,
        summary="Upload an encrypted attachment (application/jose, compact JWE)",
        tags=[openapi.SENDER],
        responses=openapi.problems(
            *own,
            "attachment-not-found",
            "submission-state-invalid",
            "unsupported-media-type",
            "payload-too-large",
            *openapi.STORES,
            *openapi.JWE,
        ),
        openapi_extra=openapi.jose_body("The attachment encrypted to the destination's key, streamed."),
    )
    async def upload_attachment(
        request: Request, client: CurrentClient, intake: IntakeService, submission_id: str, attachment_id: str
    ) -> Response:
        sid = submission_path_id(submission_id)
        aid = path_id(attachment_id, "attachment-not-found")
        require_media_type(request, "application/jose")
        await intake.upload_attachment(client, sid, aid, request.stream(), declared_length(request))
        return Response(status_code=204)

    @router.put(
        "/submissions/{submission_id}",
        response_model=SubmissionReference,
        summary="Submit encrypted metadata and data",
        tags=[openapi.SENDER],
        responses=openapi.problems(
            *own,
            *openapi.BODY,
            *openapi.STORES,
            "submission-state-invalid",
            "missing-attachments",
            *openapi.JWE,
        ),
        openapi_extra=openapi.json_body(
            SubmitRequest,
            _SUBMIT_EXAMPLE,
            "Metadata and data as compact JWEs"
            + (" (`encryptedData` is required)." if version == "v2" else "."),
        ),
    )
    async def submit(
        request: Request, client: CurrentClient, limits: LimitsOf, intake: IntakeService, submission_id: str
    ) -> dict[str, str]:
        sid = submission_path_id(submission_id)
        body = parse_body(SubmitRequest, await read_json_object(request, limits.max_json_body_bytes))
        if version == "v2" and body.encrypted_data is None:
            raise InvalidRequestError("encryptedData is required", slug="request-body-invalid")
        submission = await intake.submit(client, sid, body.encrypted_metadata, body.encrypted_data)
        return _reference(submission)

    @router.get(
        "/cases/{case_id}/events",
        response_model=EventLog,
        summary="Read the event log of a case",
        tags=[openapi.SENDER],
        responses=openapi.problems(*openapi.BEARER, "case-not-found", "query-invalid"),
    )
    async def case_events(
        client: CurrentClient,
        intake: IntakeService,
        case_id: str,
        offset: Annotated[str | None, Query(description=_OFFSET)] = None,
        limit: Annotated[str | None, Query(description=_LIMIT)] = None,
    ) -> dict[str, list[str]]:
        cid = path_id(case_id, "case-not-found")
        return {"eventLog": _page(await intake.event_log(client, case_id=cid), offset, limit)}

    if version == "v2":

        @router.get(
            "/submissions/{submission_id}/events",
            response_model=EventLog,
            summary="Read the event log of a submission",
            tags=[openapi.SENDER],
            responses=openapi.problems(*own, "query-invalid"),
        )
        async def submission_events(
            client: CurrentClient,
            intake: IntakeService,
            submission_id: str,
            offset: Annotated[str | None, Query(description=_OFFSET)] = None,
            limit: Annotated[str | None, Query(description=_LIMIT)] = None,
        ) -> dict[str, list[str]]:
            sid = submission_path_id(submission_id)
            return {"eventLog": _page(await intake.event_log(client, submission_id=sid), offset, limit)}

        @router.get(
            "/destinations/{destination_id}/keys",
            summary="Read a destination's public keys, the current encryption key first",
            tags=[openapi.KEYS],
            responses=openapi.problems("destination-not-found"),
        )
        async def list_keys(sessions: Sessions, destination_id: str) -> dict[str, list[dict[str, Any]]]:
            dest_id = path_id(destination_id, "destination-not-found")
            async with sessions() as session:
                destination = await session.get(Destination, dest_id)
                if destination is None:
                    raise NotFoundError("destination not found", slug="destination-not-found")
                keys = await public_keys_of(session, [dest_id])
            return {"keys": public_keys(destination, keys)}

    return router
