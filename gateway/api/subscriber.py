"""The FIT-Connect subscriber API of destinations with the ``fit-connect-subscriber`` binding.

Paths, status codes and field names as FIT-Connect's Submission API gives them to a subscriber
(and as ``fitconnect`` 0.4.2 calls them): ``GET /v1/submissions?offset&limit``,
``GET /v1/submissions/{id}`` (the first fetch writes ``notify-submission``),
``GET /v1/submissions/{id}/attachments/{aid}`` (``application/jose``) and
``POST /v1/cases/{caseId}/events`` (a SET, ``application/jose``; 204). The same under ``/v2``.
A subscriber client gets its token from ``POST /token`` like a sender; the token only opens
these routes, and only for its own destinations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from gateway.api import openapi
from gateway.api.auth import BEARER
from gateway.api.body import media_type, read_capped
from gateway.api.submissions import path_id, submission_path_id
from gateway.api.subscriber_services import SubscriberServices, services_of
from gateway.errors import AuthenticationError, InvalidRequestError, UnsupportedMediaTypeError
from gateway.routing.subscribers import SubscriberBinding

__all__ = ["build_router"]

MAX_SET_BYTES = 64 * 1024
DEFAULT_LIMIT, MAX_LIMIT = 100, 500


@dataclass(frozen=True)
class Subscriber:
    """The authenticated subscriber client and its destinations."""

    client_id: str
    bindings: dict[str, SubscriberBinding]
    services: SubscriberServices

    @property
    def destinations(self) -> list[str]:
        return list(self.bindings)


async def require_subscriber(
    request: Request, authorization: Annotated[str | None, Depends(BEARER)]
) -> Subscriber:
    """FastAPI dependency: the subscriber client behind the bearer token."""
    scheme, _, credentials = (authorization or "").partition(" ")
    services = services_of(request)
    if scheme.lower() != "bearer" or not credentials.strip() or services is None:
        raise AuthenticationError("bearer token of a subscriber client required", slug="invalid-token")
    client_id = services.tokens.client_id(credentials.strip())
    bindings = {b.destination_id: b for b in services.subscribers.of_client(client_id)}
    if not bindings:
        raise AuthenticationError("client is no subscriber any more", slug="invalid-token")
    return Subscriber(client_id, bindings, services)


CurrentSubscriber = Annotated[Subscriber, Depends(require_subscriber)]


def _number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequestError(f"{name} must be a whole number from {low} to {high}", slug="query-invalid")
    return int(raw)


_SET_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A Security Event Token (compact JWS, PS512) signed with the Fachverfahren's "
        "registered signing key: accept-submission with the authentication tags of the fetched "
        "parts, or reject-submission with problems.",
        "content": {
            "application/jose": {
                "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){2}$"},
                "example": "eyJhbGciOiJQUzUxMiIsInR5cCI6InNlY2V2ZW50K2p3dCJ9.eyJldmVudHMiOnt9fQ.c2ln",
            }
        },
    }
}


def build_router(version: str) -> APIRouter:
    router = APIRouter(prefix=f"/{version}", tags=[openapi.SUBSCRIBER])
    own = ("submission-not-found", *openapi.BEARER)

    @router.get(
        "/submissions",
        summary="List the submissions waiting for the subscriber's destinations",
        responses=openapi.problems(*openapi.BEARER, "query-invalid"),
    )
    async def list_submissions(
        subscriber: CurrentSubscriber,
        offset: Annotated[str | None, Query(description="entries to skip")] = None,
        limit: Annotated[str | None, Query(description=f"entries to return, at most {MAX_LIMIT}")] = None,
        destination_id: Annotated[str | None, Query(alias="destinationId")] = None,
    ) -> dict[str, Any]:
        start = _number(offset, "offset", 0, 0, 10**9)
        count = _number(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        destinations = subscriber.destinations
        if destination_id is not None:
            destinations = [d for d in destinations if d == destination_id.lower()]
        rows, total = await subscriber.services.pickups.page(destinations, start, count)
        return {
            "count": len(rows),
            "offset": start,
            "totalCount": total,
            "submissions": [
                {"destinationId": r.destination_id, "submissionId": r.submission_id, "caseId": r.case_id}
                for r in rows
            ],
        }

    @router.get(
        "/submissions/{submission_id}",
        summary="Fetch a submission: metadata and data encrypted to the subscriber, attachment ids",
        responses=openapi.problems(*own),
    )
    async def get_submission(subscriber: CurrentSubscriber, submission_id: str) -> dict[str, Any]:
        sid = submission_path_id(submission_id)
        pickup, row, metadata, data = await subscriber.services.pickups.fetch(sid, subscriber.destinations)
        service = {"identifier": row.service_identifier, "name": row.service_name}
        body: dict[str, Any] = {
            "destinationId": pickup.destination_id,
            "submissionId": pickup.submission_id,
            "caseId": pickup.case_id,
            "serviceType" if version == "v1" else "publicService": service,
            "attachments": list(pickup.attachment_blobs),
            "encryptedMetadata": metadata,
        }
        if data is not None:
            body["encryptedData"] = data
        return body

    @router.get(
        "/submissions/{submission_id}/attachments/{attachment_id}",
        summary="Download an attachment encrypted to the subscriber (application/jose)",
        response_class=FileResponse,
        responses=openapi.problems(*own, "attachment-not-found"),
    )
    async def get_attachment(
        subscriber: CurrentSubscriber, submission_id: str, attachment_id: str
    ) -> Response:
        sid = submission_path_id(submission_id)
        aid = path_id(attachment_id, "attachment-not-found")
        path = await subscriber.services.pickups.attachment(sid, aid, subscriber.destinations)
        return FileResponse(path, media_type="application/jose")

    @router.post(
        "/cases/{case_id}/events",
        status_code=204,
        response_class=Response,
        summary="Answer a fetched submission with a signed accept-submission or reject-submission SET",
        responses=openapi.problems(
            *openapi.BEARER,
            "case-not-found",
            "submission-state-invalid",
            "unsupported-media-type",
            "payload-too-large",
            "event-invalid",
            "event-signature-invalid",
            "event-case-mismatch",
            "event-not-supported",
            "authentication-tags-mismatch",
            "problems-invalid",
        ),
        openapi_extra=_SET_BODY,
    )
    async def post_event(request: Request, subscriber: CurrentSubscriber, case_id: str) -> Response:
        cid = path_id(case_id, "case-not-found")
        if media_type(request) not in ("", "application/jose"):  # fitconnect 0.4.2 sends none
            raise UnsupportedMediaTypeError("Content-Type must be application/jose")
        raw = await read_capped(request, MAX_SET_BYTES)
        try:
            token = raw.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise InvalidRequestError("not a compact JWS", slug="event-invalid") from exc
        await subscriber.services.pickups.answer(cid, token, subscriber.bindings)
        return Response(status_code=204)

    return router
