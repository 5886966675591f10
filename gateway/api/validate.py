"""``POST /v1/validate`` and ``/v2/validate``: check a whole submission without submitting it.

Body (JSON)::

    {"destinationId": "<uuid>",
     "serviceType": {"identifier": "urn:de:fim:leika:leistung:…", "name": "…"},  # v2: publicService
     "encryptedMetadata": "<compact JWE>", "encryptedData": "<compact JWE>",    # data optional
     "attachments": {"<attachment uuid>": "<compact JWE>", …}}

Answer 200 ``{"valid": bool, "problems": [{type, title, detail, instance}, …]}`` with the
problems a ``reject-submission`` event would carry. What intake refuses (auth, destination,
service, sizes, JWE shape and header) is refused with the same problem+json error as intake.
The body is capped at ``Limits.max_json_body_bytes``; a client may have
``Limits.max_dry_runs_per_client`` dry runs in progress (429 beyond).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api import openapi
from gateway.api.auth import CurrentClient
from gateway.api.body import read_json_object
from gateway.api.deps import DryRunSlots, LimitsOf, ValidatorService
from gateway.api.submissions import UUID, ServiceRef, parse_body
from gateway.errors import InvalidRequestError
from gateway.stages.validate.dry_run import DryRun, dry_run

__all__ = ["router"]


router = APIRouter(tags=[openapi.DRY_RUN])


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    destination_id: str = Field(alias="destinationId", pattern=UUID.pattern)
    service_type: ServiceRef | None = Field(None, alias="serviceType")
    public_service: ServiceRef | None = Field(None, alias="publicService")
    encrypted_metadata: str = Field(alias="encryptedMetadata", min_length=1)
    encrypted_data: str | None = Field(None, alias="encryptedData", min_length=1)
    attachments: dict[str, str] = Field(default_factory=dict)


class DryRunResult(BaseModel):
    """``valid`` is false exactly when there are problems: those a ``reject-submission`` would carry."""

    valid: bool
    problems: list[dict[str, str]] = Field(description="each with type, title, detail, instance")


def _parse(body: dict[str, Any]) -> DryRun:
    parsed: ValidateRequest = parse_body(ValidateRequest, body)
    service = parsed.service_type or parsed.public_service
    if service is None:
        raise InvalidRequestError(
            "serviceType (v1) or publicService (v2) is required", slug="request-body-invalid"
        )
    if not all(UUID.match(aid) for aid in parsed.attachments):
        raise InvalidRequestError("attachment ids must be UUIDs", slug="request-body-invalid")
    attachments = {aid.lower(): token for aid, token in parsed.attachments.items()}
    if len(attachments) != len(parsed.attachments):
        raise InvalidRequestError("attachment ids must be unique", slug="attachment-ids-not-unique")
    return DryRun(
        destination_id=parsed.destination_id.lower(),
        service_identifier=service.identifier,
        encrypted_metadata=parsed.encrypted_metadata,
        encrypted_data=parsed.encrypted_data,
        attachments=attachments,
    )


async def _validate(
    request: Request,
    client: CurrentClient,
    limits: LimitsOf,
    validator: ValidatorService,
    dry_runs: DryRunSlots,
) -> dict[str, Any]:
    with dry_runs.hold(client.client_id, limits.max_dry_runs_per_client):
        body = _parse(await read_json_object(request, limits.max_json_body_bytes))
        problems = await dry_run(validator, client, body)
    return {"valid": not problems, "problems": [p.as_json() for p in problems]}


def _example(version: str) -> dict[str, Any]:
    service = {"identifier": "urn:de:fim:leika:leistung:99066006001000", "name": "Baugenehmigung"}
    return {
        "destinationId": "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01",
        "serviceType" if version == "v1" else "publicService": service,
        "encryptedMetadata": openapi.JWE_EXAMPLE,
        "encryptedData": openapi.JWE_EXAMPLE,
        "attachments": {"0b8f3b8e-4d0c-4b8e-9a53-52d0f0f8d0a1": openapi.JWE_EXAMPLE},
    }


_RESPONSES = openapi.problems(
    *openapi.BEARER,
    *openapi.BODY,
    *openapi.ACCESS,
    *openapi.JWE,
    "too-many-attachments",
    "attachment-ids-not-unique",
)

for _version in ("v1", "v2"):
    router.add_api_route(
        f"/{_version}/validate",
        _validate,
        methods=["POST"],
        response_model=DryRunResult,
        summary="Check a submission (decrypt, metadata, hashes, data schema) without storing it",
        responses=_RESPONSES,
        openapi_extra=openapi.json_body(
            ValidateRequest,
            _example(_version),
            "The whole submission at once: metadata, data and attachments as compact JWEs.",
        ),
    )
