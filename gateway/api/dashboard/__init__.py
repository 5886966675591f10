"""The operators' dashboard under ``/admin/``: server-rendered pages (no script, no build step,
nothing from another host) over the same services as ``xgw`` and ``/admin/v1``.

========================================  ==================================================
``GET /admin/login``, ``POST``            log in with an ``[[operators]]`` id and secret
``POST /admin/logout``                    end the session
``GET /admin/``                           destinations: health, backlog, paused; pause/resume
``GET /admin/parked``                     parked submissions; replay or reject each
``GET /admin/trace?ref=``                 a submission's timeline, by submission or case id
========================================  ==================================================

Modules: :mod:`~.session` (the signed cookie), :mod:`~.access` (who asks, the CSRF check),
:mod:`~.rendering` (templates, headers, error pages), :mod:`~.login`, :mod:`~.pages`,
:mod:`~.actions`. None of its routes is in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from gateway.adapters.host import AdapterHealth
from gateway.api.admin import AdminServices
from gateway.api.dashboard import actions, login, pages
from gateway.api.dashboard.access import DashboardServices
from gateway.api.dashboard.rendering import DashboardRoute, base_of
from gateway.api.dashboard.session import SessionCodec

__all__ = ["DashboardServices", "build_services", "router"]

router = APIRouter(prefix="/admin", include_in_schema=False, route_class=DashboardRoute)


@router.get("")
async def home(request: Request) -> Response:
    return RedirectResponse(f"{base_of(request)}/admin/", status_code=307)


router.include_router(login.router)
router.include_router(pages.router)
router.include_router(actions.router)


def build_services(admin: AdminServices, key: bytes, adapters: AdapterHealth) -> DashboardServices:
    """The dashboard's services; ``key`` signs the session cookies (``Secure`` on an https URL)."""
    secure = admin.settings.public_url.lower().startswith("https://")
    return DashboardServices(admin, SessionCodec(key, secure=secure), adapters)
