"""Routes for operators and orchestrators, no token needed: ``/healthz`` (the process answers, no
I/O), ``/readyz`` (may it take work: 503 naming each failed check) and ``/metrics`` (Prometheus
text, derived from the read model when scraped)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from gateway.adapters.host import AdapterHealth
from gateway.api import openapi
from gateway.api.problems import problem, title
from gateway.broker.topology import Topology
from gateway.config.settings import Settings
from gateway.operations import metrics
from gateway.operations.readiness import Readiness
from gateway.store.readmodel import ReadModel

__all__ = ["OperationsServices", "router"]

router = APIRouter(tags=[openapi.ADMIN])


@dataclass(frozen=True)
class OperationsServices:
    """What these routes read; built by the composition root (:meth:`build`)."""

    read: ReadModel
    readiness: Readiness
    topology: Topology
    amqp_url: str | None

    @classmethod
    def build(
        cls,
        settings: Settings,
        read: ReadModel,
        topology: Topology,
        knows: Callable[[str], bool],
        adapters: AdapterHealth,
        *,
        runs_stages: bool,
    ) -> OperationsServices:
        """``knows`` tells whether the catalogue accepts a ``schemaUri``; the broker is a
        readiness condition only where this process runs stages on it."""
        url = settings.amqp_url.get_secret_value() if settings.amqp_url else None
        uris = [
            s.schema_uri
            for t in settings.tenants
            for d in t.destinations
            for v in d.services
            for s in v.submission_schemas
        ]
        readiness = Readiness(
            read,
            uris,
            knows,
            adapters,
            url if runs_stages else None,
            topology.validate_queue,
            settings.blobs_path,
            settings.limits.min_free_blob_bytes,
        )
        return cls(read, readiness, topology, url)


def _services(request: Request) -> OperationsServices:
    return cast(OperationsServices, request.app.state.operations)


Services = Annotated[OperationsServices, Depends(_services)]

_CHECKS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "ok"],
        "properties": {
            "name": {
                "type": "string",
                "description": "database, broker, schemas, adapter <destination> <service>",
            },
            "ok": {"type": "boolean"},
            "problem": {"type": ["string", "null"], "description": "why it failed"},
        },
    },
}


@router.get("/healthz", summary="Liveness: the process answers (no I/O)", responses=openapi.problems())
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database, broker, schema catalogue and adapter checks",
    response_model=None,
    responses={
        200: {
            "description": "every check passed",
            "content": {
                "application/json": {"schema": {"type": "object", "properties": {"checks": _CHECKS}}}
            },
        },
        **openapi.problems("not-ready"),
    },
)
async def readyz(services: Services) -> dict[str, Any] | JSONResponse:
    checks = await services.readiness.checks()
    listed = [{"name": c.name, "ok": c.ok, "problem": c.problem} for c in checks]
    failed = [c for c in checks if not c.ok]
    if failed:
        detail = "; ".join(f"{c.name}: {c.problem}" for c in failed)
        return problem(503, "not-ready", title("not-ready"), detail, errors=listed)
    return {"status": "ready", "checks": listed}


@router.get(
    "/metrics",
    summary="Prometheus metrics of the whole gateway, read from the database when scraped",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **openapi.problems(),
    },
)
async def prometheus(services: Services) -> Response:
    body = await metrics.scrape(services.read, services.topology, services.amqp_url)
    return Response(body, media_type=metrics.CONTENT_TYPE)
