"""What an operator does from the dashboard: replay or reject a parked submission, pause or
resume a destination. Each is a form (CSRF-checked, with a reason for the audit log) that calls
:mod:`gateway.operations` as ``/admin/v1`` does and redirects to a page (POST-redirect-GET) where
a notice says what happened.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from gateway.api.dashboard.access import Acting, DashboardServices, Form, Services, SignedIn
from gateway.api.dashboard.rendering import DashboardRoute, base_of
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.store.parked import ParkedFilter

__all__ = ["router"]

router = APIRouter(route_class=DashboardRoute)
MAX_REASON = 500


def _reason(form: Form) -> str:
    reason = form.get("reason", "").strip()
    if not 0 < len(reason) <= MAX_REASON:
        raise InvalidRequestError(f"a reason (1 to {MAX_REASON} characters) is needed", slug="reason-missing")
    return reason


def _then(
    request: Request, services: DashboardServices, who: SignedIn, path: str, *notices: str
) -> RedirectResponse:
    response = RedirectResponse(base_of(request) + path, status_code=303)
    services.codec.store(response, who.session.noting(*notices))
    return response


def _back(form: Form, submission_id: str) -> str:
    """The page the form was on: the parked list, else the submission's trace."""
    if form.get("back") == "parked":
        return "/admin/parked"
    return f"/admin/trace?ref={quote(submission_id)}"


@router.post("/parked/{submission_id}/replay")
async def replay(request: Request, submission_id: str, services: Services, acting: Acting) -> Response:
    who, form = acting
    reason = _reason(form)
    which = ParkedFilter(submission_id=submission_id)
    results = await services.admin.parked.replay(who.operator, which, reason)
    if not results:
        raise NotFoundError(f"no parked submission {submission_id!r}", slug="submission-not-found")
    result = results[0]
    notice = {
        "replayed": f"Submission {submission_id} checked and queued for delivery again.",
        "not-parked": f"Submission {submission_id} is no longer parked.",
        "failed-check": f"Submission {submission_id} failed its check and stays parked: "
        + "; ".join(p.split(":", 1)[0] for p in result.problems),
    }.get(result.outcome, f"Submission {submission_id}: {result.outcome}.")
    return _then(request, services, who, _back(form, submission_id), notice)


@router.post("/parked/{submission_id}/reject")
async def reject(request: Request, submission_id: str, services: Services, acting: Acting) -> Response:
    who, form = acting
    await services.admin.parked.reject(who.operator, submission_id, _reason(form))
    notice = f"Submission {submission_id} rejected; the sender is told (technical-error)."
    return _then(request, services, who, _back(form, submission_id), notice)


@router.post("/destinations/{destination_id}/{action}")
async def pause(
    request: Request,
    destination_id: str,
    action: Literal["pause", "resume"],
    services: Services,
    acting: Acting,
) -> Response:
    who, form = acting
    paused = action == "pause"
    await services.admin.maintenance.pause(who.operator, destination_id, _reason(form), paused=paused)
    notice = f"Destination {destination_id} {'paused' if paused else 'resumed'}."
    return _then(request, services, who, "/admin/", notice)
