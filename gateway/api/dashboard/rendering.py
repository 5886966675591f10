"""How the dashboard answers: pages from Jinja2 templates, its security headers, and errors as
HTML pages.

Every answer carries a Content-Security-Policy that allows no script at all and styles only
from the gateway (``/admin/dashboard.css``), is not cached and may not be framed.
:class:`DashboardRoute` is the one place where errors become pages: a missing login is a
redirect to the login form, a :class:`~gateway.errors.GatewayError` a page with its status
(404 for an unknown or foreign id, 403 for a missing CSRF token), a malformed request a 400 page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.errors import AuthenticationError, GatewayError

__all__ = ["CSS", "DashboardRoute", "LoginRequired", "base_of", "page", "secured"]

log = structlog.get_logger()

_HERE = Path(__file__).parent
CSS = (_HERE / "dashboard.css").read_bytes()
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(AuthenticationError):
    """No (valid) session: the browser is sent to the login form."""

    slug = "login-required"


def _when(value: dt.datetime | None) -> str:
    return "—" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


_TEMPLATES = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters["when"] = _when
_TEMPLATES.filters["age"] = _age


def base_of(request: Request) -> str:
    """The app's root path, before every link (the gateway may sit under a proxy's prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def secured(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page(request: Request, template: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    """The page ``template`` rendered with ``context`` (``base``, and no operator unless given)."""
    context.setdefault("operator", None)
    context.setdefault("csrf", "")
    context.setdefault("notices", ())
    body = _TEMPLATES.get_template(template).render(base=base_of(request), **context)
    return HTMLResponse(body, status_code=status)


def _error(request: Request, status: int, slug: str, detail: str | None) -> HTMLResponse:
    return page(request, "error.html", status, title=slug.replace("-", " ").capitalize(), detail=detail)


def _login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    there = "" if request.method != "GET" or target in ("/admin/", "/admin") else f"?next={quote(target)}"
    return RedirectResponse(f"{base_of(request)}/admin/login{there}", status_code=303)


class DashboardRoute(APIRoute):
    """A dashboard route: its answer gets the security headers, its errors become pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            response: Response
            try:
                response = await handler(request)
            except LoginRequired:
                response = _login(request)
            except GatewayError as exc:
                if exc.status >= 500:
                    log.error("dashboard_failed", slug=exc.slug, detail=exc.detail)
                response = _error(request, exc.status, exc.slug, exc.detail if exc.status < 500 else None)
                if exc.retry_after_seconds is not None:
                    response.headers["Retry-After"] = str(exc.retry_after_seconds)
            except RequestValidationError:
                response = _error(request, 400, "request-invalid", "the request does not meet the form")
            return secured(response)

        return answer
