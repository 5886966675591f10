"""Logging in and out of the dashboard with an ``[[operators]]`` id and secret.

The login form comes with a session of its own (no operator yet) whose CSRF token the form must
return, so no other site can log a browser in. The secret is checked as the admin API checks
it (:func:`gateway.api.admin.authenticate_operator`); success starts a new session (a new CSRF
token) for :data:`~gateway.api.dashboard.session.LOGIN_SECONDS`, a failure answers 401 with the
form again. ``next`` returns to the page that asked for the login, only within ``/admin/``.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from gateway.api.admin import authenticate_operator, declared_operator
from gateway.api.dashboard.access import Services, check_csrf, read_form, session_of
from gateway.api.dashboard.rendering import DashboardRoute, base_of, page
from gateway.api.dashboard.session import Session

__all__ = ["router"]

router = APIRouter(route_class=DashboardRoute)
#: A page of the dashboard to return to: a path below /admin/ with an optional query.
_NEXT = re.compile(r"/admin/(?!/)[A-Za-z0-9._~/%-]*(\?[A-Za-z0-9._~=&%+-]*)?")


def _next(value: str | None) -> str:
    return value if value and _NEXT.fullmatch(value) and "login" not in value else "/admin/"


@router.get("/login")
async def login_form(request: Request, services: Services, next: str | None = None) -> Response:
    session = session_of(request, services)
    if session is None or session.operator is not None:
        session = Session.new()
    response = page(request, "login.html", title="Log in", csrf=session.csrf, next=_next(next), failed=False)
    services.codec.store(response, session)
    return response


@router.post("/login")
async def login(request: Request, services: Services) -> Response:
    session = session_of(request, services)
    form = await read_form(request)
    check_csrf(session, form)
    assert session is not None  # the CSRF token matched it
    name, secret = form.get("operator", "")[:128], form.get("secret", "")[:1024]
    operator = await authenticate_operator(services.admin.settings, name, secret)
    if operator is None:
        return page(
            request,
            "login.html",
            401,
            title="Log in",
            csrf=session.csrf,
            next=_next(form.get("next")),
            failed=True,
        )
    declared = declared_operator(services.admin.settings, operator.id)
    assert declared is not None  # just authenticated
    response = RedirectResponse(base_of(request) + _next(form.get("next")), status_code=303)
    services.codec.store(response, Session.new(operator.id, declared.secret_hash))
    return response


@router.post("/logout")
async def logout(request: Request, services: Services) -> Response:
    form = await read_form(request)
    check_csrf(session_of(request, services), form)
    response = RedirectResponse(f"{base_of(request)}/admin/login", status_code=303)
    services.codec.clear(response)
    return response
