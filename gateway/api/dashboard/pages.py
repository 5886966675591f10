"""The dashboard's pages: destinations (health, backlog, paused), parked submissions, and a
submission's trace. Each reads through :mod:`gateway.operations`, as ``xgw`` and ``/admin/v1``
do, and shows only the destinations in the operator's scope; ids, states, problems and vendor
codes, never payload content.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from gateway.adapters.host import CheckResult
from gateway.api.dashboard.access import DashboardServices, Services, SignedIn, Viewing
from gateway.api.dashboard.rendering import CSS, DashboardRoute, page
from gateway.errors import NotFoundError
from gateway.operations.status import read_status
from gateway.operations.trace import read_timeline
from gateway.store.backlog import STATES, DestinationBacklog
from gateway.store.parked import ParkedFilter

__all__ = ["router"]

router = APIRouter(route_class=DashboardRoute)
#: The timeline fields shown beside an entry's text (the others are in the text or free text).
TRACE_FIELDS = ("code", "error_class", "reference", "latency_ms")
MAX_REFERENCE = 128


def show(
    request: Request, services: DashboardServices, who: SignedIn, template: str, **context: Any
) -> HTMLResponse:
    """A page for the logged-in operator; the session's notices are shown once."""
    session = who.session
    response = page(
        request, template, operator=who.operator, csrf=session.csrf, notices=session.notices, **context
    )
    if session.notices:
        services.codec.store(response, session.without_notices())
    return response


@dataclass(frozen=True)
class DestinationRow:
    backlog: DestinationBacklog
    waiting_seconds: float | None
    checks: list[CheckResult]


@router.get("/")
async def overview(request: Request, services: Services, who: Viewing) -> Response:
    admin, sees = services.admin, who.operator.sees
    url = admin.settings.amqp_url.get_secret_value() if admin.settings.amqp_url else None
    status = await read_status(admin.read, admin.topology, url)
    checks = services.adapters.results()
    rows = [
        DestinationRow(
            d,
            None if d.oldest_waiting is None else max((status.at - d.oldest_waiting).total_seconds(), 0.0),
            [c for c in checks if c.destination == d.destination_id],
        )
        for d in status.destinations
        if sees(d.destination_id)
    ]
    stages = [s for s in status.stages if sees(s.name.removeprefix("deliver.")) or "." not in s.name]
    return show(
        request,
        services,
        who,
        "overview.html",
        title="Destinations",
        status=status,
        rows=rows,
        stages=stages,
        states=STATES,
    )


@router.get("/parked")
async def parked(
    request: Request, services: Services, who: Viewing, destination: str | None = None
) -> Response:
    operator, settings = who.operator, services.admin.settings
    choices = [
        (str(d.id), d.name or str(d.id))
        for t in settings.tenants
        for d in t.destinations
        if operator.sees(str(d.id))
    ]
    destination = destination or None
    if destination is not None and destination not in dict(choices):
        raise NotFoundError(f"no destination {destination!r}", slug="destination-not-found")
    found = await services.admin.parked.find(operator, ParkedFilter(destination_id=destination))
    return show(
        request,
        services,
        who,
        "parked.html",
        title="Parked submissions",
        parked=found,
        destination=destination,
        choices=choices,
    )


@router.get("/trace")
async def trace(request: Request, services: Services, who: Viewing, ref: str | None = None) -> Response:
    reference = (ref or "").strip()
    timeline = None
    if reference:
        if len(reference) > MAX_REFERENCE:
            raise NotFoundError("no submission or case with so long an id", slug="submission-not-found")
        timeline = await read_timeline(services.admin.read, reference)
        if not who.operator.sees(timeline.destination_id):
            raise NotFoundError(f"no submission or case {reference!r}", slug="submission-not-found")
    return show(
        request,
        services,
        who,
        "trace.html",
        title="Trace",
        reference=reference,
        timeline=timeline,
        fields=TRACE_FIELDS,
        now=dt.datetime.now(dt.UTC),
    )


@router.get("/dashboard.css")
async def stylesheet() -> Response:
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
