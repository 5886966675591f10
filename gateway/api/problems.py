"""RFC 7807 problem details, the only shape of an HTTP error.

The problem ``type`` is FIT-Connect's where FIT-Connect defines one, otherwise a stable URN of the
gateway's own: ``urn:xoev-gateway:problem:<slug>``. Clients switch on ``type``, never on ``title``.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from gateway.errors import AuthenticationError, GatewayError
from gateway.store import faults

log = structlog.get_logger()

FIT_CONNECT = "https://schema.fitko.de/fit-connect/submission-api/problems/"
OWN = "urn:xoev-gateway:problem:"
FIT_CONNECT_SLUGS = {"destination-not-found", "destination-state-invalid", "submission-not-found"}
MEDIA_TYPE = "application/problem+json"


def problem_type(slug: str) -> str:
    return (FIT_CONNECT if slug in FIT_CONNECT_SLUGS else OWN) + slug


def problem(status: int, slug: str, title: str, detail: str | None = None, **extra: object) -> JSONResponse:
    body: dict[str, object] = {"type": problem_type(slug), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def title(slug: str) -> str:
    """A problem's title: its slug in words."""
    return slug.replace("-", " ").capitalize()


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.error("request_failed", slug=exc.slug, detail=exc.detail)
        response = problem(exc.status, exc.slug, title(exc.slug))
    else:
        log.info("request_rejected", slug=exc.slug, status=exc.status, detail=exc.detail)
        extra = (
            {"error": "invalid_client"}
            if isinstance(exc, AuthenticationError) and exc.slug == "invalid-client"
            else {}
        )
        response = problem(exc.status, exc.slug, title(exc.slug), exc.detail, **extra)
    if exc.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


async def _infrastructure(request: Request, exc: Exception) -> JSONResponse:
    """A database failure the sender may retry (503/507); any other one is unexpected (500)."""
    error = faults.unavailable(exc)
    if error is None:
        raise exc
    return await _gateway_error(request, error)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    response = problem(exc.status_code, slug, title(slug), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]
    return problem(
        422, "request-invalid", "Request invalid", "the request does not meet the contract", errors=errors
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client closed the connection mid-request: nothing to answer, nothing went wrong here."""
    log.info("client_disconnected", method=request.method, path=request.url.path)
    return Response(status_code=400)  # never arrives; the server drops it


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected_error")
    return problem(500, "internal-error", "Internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    for infrastructure in faults.DATABASE_ERRORS:
        app.add_exception_handler(infrastructure, _infrastructure)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
