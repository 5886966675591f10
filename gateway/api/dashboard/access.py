"""Who is asking the dashboard: the session of the request, the operator it names, and for
every form the CSRF check.

The operator is read from ``[[operators]]`` on every request (with the scope the admin API
gives it, :func:`gateway.api.admin.operator_of`), so a removed operator or a changed secret ends
its sessions at once. A form is ``application/x-www-form-urlencoded`` of at most
:data:`MAX_FORM_BYTES`; its ``csrf`` field must equal the session's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from gateway.adapters.host import AdapterHealth
from gateway.api.admin import AdminServices, declared_operator, operator_of
from gateway.api.dashboard.rendering import LoginRequired
from gateway.api.dashboard.session import COOKIE, Session, SessionCodec, fingerprint
from gateway.errors import (
    ForbiddenError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from gateway.operations.parked import Operator

__all__ = ["Acting", "DashboardServices", "Form", "Services", "SignedIn", "Viewing"]

MAX_FORM_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class DashboardServices:
    """What the dashboard uses: the admin API's services, the session cookie's codec and the
    adapters' latest checks; built by the composition root."""

    admin: AdminServices
    codec: SessionCodec
    adapters: AdapterHealth


def _services(request: Request) -> DashboardServices:
    return cast(DashboardServices, request.app.state.dashboard)


Services = Annotated[DashboardServices, Depends(_services)]


@dataclass(frozen=True)
class SignedIn:
    """A request of a logged-in operator."""

    session: Session
    operator: Operator


Form = dict[str, str]


def session_of(request: Request, services: DashboardServices) -> Session | None:
    return services.codec.decode(request.cookies.get(COOKIE))


async def _viewing(request: Request, services: Services) -> SignedIn:
    """The logged-in operator; raises ``LoginRequired`` without a valid session."""
    session = session_of(request, services)
    if session is None or session.operator is None:
        raise LoginRequired("log in first")
    settings = services.admin.settings
    declared = declared_operator(settings, session.operator)
    if declared is None or fingerprint(declared.secret_hash) != session.fingerprint:
        raise LoginRequired("log in again")
    return SignedIn(session, operator_of(settings, declared))


Viewing = Annotated[SignedIn, Depends(_viewing)]


async def read_form(request: Request) -> Form:
    """The fields of an urlencoded form (the last of a repeated name; no content type and no
    body: an empty form); raises
    ``UnsupportedMediaTypeError``, ``PayloadTooLargeError`` or ``InvalidRequestError``."""
    if request.headers.get("content-type", FORM).split(";")[0].strip().lower() != FORM:
        raise UnsupportedMediaTypeError(f"a form ({FORM}) is expected")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLargeError(f"a form has at most {MAX_FORM_BYTES} bytes")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("the form cannot be read") from exc


def check_csrf(session: Session | None, form: Form) -> None:
    """Raises ``ForbiddenError`` unless the form carries the session's CSRF token."""
    if session is None or not session.csrf_matches(form.get("csrf")):
        stale = "the form's CSRF token is missing or stale: reload the page"
        raise ForbiddenError(stale, slug="csrf-invalid")


async def _acting(request: Request, signed_in: Viewing) -> tuple[SignedIn, Form]:
    """A logged-in operator's form, its CSRF token checked."""
    form = await read_form(request)
    check_csrf(signed_in.session, form)
    return signed_in, form


Acting = Annotated[tuple[SignedIn, Form], Depends(_acting)]
