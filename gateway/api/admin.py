"""The admin API under ``/admin/v1``: parked submissions (list, show, replay, reject), pausing and
resuming a destination, its keys (list, rotate, prune), status and trace, for the operators
declared in ``[[operators]]``.

Operators authenticate with HTTP Basic (their id and the secret whose hash the configuration
holds), never with a sender's bearer token. An operator limited to some tenants sees and acts
on those tenants' destinations only: another destination is 403, another's submission 404.
Every route calls :mod:`gateway.operations`, as ``xgw`` does; every action is recorded in the
audit log as ``operator:<id>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field

from gateway.api import openapi
from gateway.broker.topology import Topology
from gateway.config.model import OperatorConfig
from gateway.config.settings import Settings
from gateway.crypto.secrets import verify_secret
from gateway.errors import AuthenticationError, ForbiddenError, NotFoundError
from gateway.operations import keys as key_ops
from gateway.operations.keys import KeyService
from gateway.operations.maintenance import Maintenance
from gateway.operations.parked import Operator, ParkedService, as_json
from gateway.operations.status import read_status
from gateway.operations.trace import read_timeline
from gateway.pools import Pool, run_in
from gateway.store.parked import ParkedFilter
from gateway.store.readmodel import ReadModel

__all__ = ["AdminServices", "authenticate_operator", "declared_operator", "operator_of", "router"]

router = APIRouter(prefix="/admin/v1", tags=[openapi.ADMIN])
_DENIED = ("invalid-operator", "forbidden")


@dataclass(frozen=True)
class AdminServices:
    """What the admin routes use; built by the composition root."""

    settings: Settings
    parked: ParkedService
    maintenance: Maintenance
    read: ReadModel
    topology: Topology
    keys: KeyService


def _services(request: Request) -> AdminServices:
    return cast(AdminServices, request.app.state.admin)


Services = Annotated[AdminServices, Depends(_services)]


class _OperatorBasic(HTTPBasic):
    """HTTP Basic for operators, documented as the ``operator`` scheme; malformed credentials are
    no credentials (the route answers ``invalid-operator``, not the framework's 401)."""

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        try:
            return await super().__call__(request)
        except HTTPException:
            return None


_BASIC = _OperatorBasic(
    scheme_name="operator", auto_error=False, description="an [[operators]] entry: its id and secret"
)


def declared_operator(settings: Settings, name: str) -> OperatorConfig | None:
    """The ``[[operators]]`` entry ``name``, if there is one."""
    return next((o for o in settings.operators if o.id == name), None)


def operator_of(settings: Settings, declared: OperatorConfig) -> Operator:
    """The declared operator with its scope: the destinations of its tenants (``None``: all)."""
    if declared.tenants is None:
        return Operator(declared.id)
    scope = {str(d.id) for t in settings.tenants if t.id in declared.tenants for d in t.destinations}
    return Operator(declared.id, frozenset(scope))


async def authenticate_operator(settings: Settings, name: str, secret: str) -> Operator | None:
    """The operator ``name`` if ``secret`` verifies against its hash, else ``None``; an unknown
    name costs the same hash as a known one."""
    declared = declared_operator(settings, name)
    stored = declared.secret_hash if declared else None
    if not await run_in(Pool.AUTH, verify_secret, secret, stored):
        return None
    assert declared is not None  # the secret verified against its hash
    return operator_of(settings, declared)


async def _operator(
    services: Services, credentials: Annotated[HTTPBasicCredentials | None, Depends(_BASIC)]
) -> Operator:
    """The operator of HTTP Basic credentials; raises ``AuthenticationError`` otherwise."""
    operator = None
    if credentials is not None:
        operator = await authenticate_operator(services.settings, credentials.username, credentials.password)
    if operator is None:
        raise AuthenticationError("operator credentials (HTTP Basic) needed", slug="invalid-operator")
    return operator


Acting = Annotated[Operator, Depends(_operator)]


def _example(body: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` adding an example to a route's JSON body."""
    return {"requestBody": {"content": {"application/json": {"example": body}}}}


class Filters(BaseModel):
    """Which parked submissions: every field left out matches all."""

    destination: str | None = Field(None, description="destination id")
    adapter: str | None = Field(None, description="the adapter of the last attempt")
    error: str | None = Field(None, description="a text in the park reason or the vendor's code")
    since: dt.datetime | None = Field(None, description="parked at or after")

    def of(self, operator: Operator, submission_id: str | None = None) -> ParkedFilter:
        if self.destination is not None and not operator.sees(self.destination):
            raise ForbiddenError("not a destination of this operator", slug="forbidden")
        return ParkedFilter(submission_id, self.destination, self.adapter, self.error, self.since)


class Replay(Filters):
    """A replay: one submission, or all that match the filters (``all`` for every one)."""

    submission_id: str | None = Field(None, alias="submissionId")
    all: bool = False
    dry_run: bool = Field(False, alias="dryRun", description="only check; change nothing")
    reason: str = Field(min_length=1, max_length=500, description="why (recorded in the audit log)")


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why (recorded in the audit log)")


@router.get("/parked", summary="Parked submissions", responses=openapi.problems(*_DENIED))
async def parked_list(
    services: Services, operator: Acting, filters: Annotated[Filters, Query()]
) -> list[dict[str, Any]]:
    return [as_json(p) for p in await services.parked.find(operator, filters.of(operator))]


@router.get(
    "/parked/{submission_id}",
    summary="One parked submission",
    responses=openapi.problems(*_DENIED, "submission-not-found"),
)
async def parked_show(services: Services, operator: Acting, submission_id: str) -> dict[str, Any]:
    return as_json(await services.parked.show(operator, submission_id))


@router.post(
    "/parked/replay",
    summary="Check parked submissions again and re-queue them for delivery",
    responses=openapi.problems(*_DENIED, "request-body-invalid"),
    openapi_extra=_example(
        {"destination": "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01", "reason": "vendor fixed", "dryRun": True}
    ),
)
async def parked_replay(services: Services, operator: Acting, body: Replay) -> list[dict[str, Any]]:
    which = body.of(operator, body.submission_id)
    if body.submission_id is None and not body.all and which == ParkedFilter():
        raise ForbiddenError("name a submission, a filter or all: true", slug="forbidden")
    results = await services.parked.replay(operator, which, body.reason, dry_run=body.dry_run)
    return [as_json(r) for r in results]


@router.post(
    "/parked/{submission_id}/reject",
    summary="Reject a parked submission with technical-error; the sender is told",
    responses=openapi.problems(*_DENIED, "submission-not-found", "request-body-invalid"),
    openapi_extra=_example({"reason": "the vendor no longer accepts this service"}),
)
async def parked_reject(
    services: Services, operator: Acting, submission_id: str, body: Reason
) -> dict[str, Any]:
    return as_json(await services.parked.reject(operator, submission_id, body.reason))


@router.get("/status", summary="Stages and the operator's destinations", responses=openapi.problems(*_DENIED))
async def status(services: Services, operator: Acting) -> dict[str, Any]:
    url = services.settings.amqp_url.get_secret_value() if services.settings.amqp_url else None
    out = (await read_status(services.read, services.topology, url)).as_json()
    out["destinations"] = [d for d in out["destinations"] if operator.sees(d["destination_id"])]
    out["keys"] = [k for k in out["keys"] if operator.sees(k["destination_id"])]
    return out


@router.get(
    "/trace/{reference}",
    summary="One submission's timeline (submission or case id)",
    responses=openapi.problems(*_DENIED, "submission-not-found"),
)
async def trace(services: Services, operator: Acting, reference: str) -> dict[str, Any]:
    timeline = await read_timeline(services.read, reference)
    if not operator.sees(timeline.destination_id):
        raise NotFoundError(f"no submission or case {reference!r}", slug="submission-not-found")
    return timeline.as_json()


@router.post(
    "/destinations/{destination_id}/{action}",
    summary="Pause or resume a destination's deliveries (submissions wait, no attempt is spent)",
    status_code=204,
    responses=openapi.problems(*_DENIED, "destination-not-found", "request-body-invalid"),
    openapi_extra=_example({"reason": "vendor maintenance until 18:00"}),
)
async def pause(
    services: Services,
    operator: Acting,
    destination_id: str,
    action: Literal["pause", "resume"],
    body: Reason,
) -> None:
    await services.maintenance.pause(operator, destination_id, body.reason, paused=action == "pause")


class Rotate(Reason):
    use: Literal["encryption", "signing"] = Field(
        "encryption", description="encryption: a new current encryption key; signing: a new SET signing key"
    )


class Prune(Reason):
    grace_seconds: int = Field(
        int(key_ops.DEFAULT_GRACE.total_seconds()),
        alias="graceSeconds",
        ge=0,
        description="keep keys retired less than this long (senders may still use a key they fetched)",
    )
    dry_run: bool = Field(False, alias="dryRun", description="only say what would be pruned")


_KEYS = ("destination-not-found",)


@router.get(
    "/destinations/{destination_id}/keys",
    summary="A destination's published keys: current, retired, and the submissions in flight that need them",
    responses=openapi.problems(*_DENIED, *_KEYS),
)
async def keys_list(services: Services, operator: Acting, destination_id: str) -> list[dict[str, Any]]:
    return [key_ops.as_json(k) for k in await services.keys.published(operator, destination_id)]


@router.post(
    "/destinations/{destination_id}/keys/rotate",
    summary="A new key for the destination; a new encryption key is published as current at once",
    responses=openapi.problems(*_DENIED, *_KEYS, "key-pinned", "request-body-invalid"),
    openapi_extra=_example({"reason": "yearly key change", "use": "encryption"}),
)
async def keys_rotate(
    services: Services, operator: Acting, destination_id: str, body: Rotate
) -> dict[str, Any]:
    return key_ops.as_json(await services.keys.rotate(operator, destination_id, body.reason, body.use))


@router.post(
    "/destinations/{destination_id}/keys/prune",
    summary="Remove retired encryption keys that no submission in flight needs any more",
    responses=openapi.problems(*_DENIED, *_KEYS, "request-body-invalid"),
    openapi_extra=_example({"reason": "rotation done", "graceSeconds": 86400, "dryRun": True}),
)
async def keys_prune(
    services: Services, operator: Acting, destination_id: str, body: Prune
) -> list[dict[str, Any]]:
    grace = dt.timedelta(seconds=body.grace_seconds)
    results = await services.keys.prune(
        operator, destination_id, body.reason, grace=grace, dry_run=body.dry_run
    )
    return [key_ops.as_json(r) for r in results]
