"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served from files installed with the gateway.

The JavaScript and CSS come from the ``fastapi-offline`` package (Swagger UI 5, Apache-2.0; ReDoc 2,
MIT; the package itself MIT) and are served under :data:`ASSETS`, so the pages load nothing from
another host and work without network. Their Content-Security-Policy holds them to this host too:
ReDoc's sidebar would otherwise fetch the Redocly logo from its CDN.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install"]

ASSETS = "/docs/assets"
#: Scripts, styles, images and requests from this host only (inline code: the pages' own set-up).
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)
_FILES = Path(fastapi_offline.__file__).parent / "static"


def _urls(request: Request) -> tuple[str, str]:
    """The OpenAPI document's URL and the assets' URL prefix, under the app's root path."""
    root = request.scope.get("root_path", "")
    return f"{root}{request.app.openapi_url}", f"{root}{ASSETS}"


async def swagger_ui(request: Request) -> HTMLResponse:
    openapi_url, assets = _urls(request)
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{request.app.title}: Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # the badge would call a public validator
    )
    page.headers["Content-Security-Policy"] = CSP
    return page


async def redoc(request: Request) -> HTMLResponse:
    openapi_url, assets = _urls(request)
    page = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{request.app.title}: ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = CSP
    return page


def install(app: FastAPI) -> None:
    """Serve the two pages and their assets (the app is built with ``docs_url=redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=_FILES), name="docs-assets")
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
