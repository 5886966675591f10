"""``GET /v1/info`` and ``GET /v2/info``: which APIs and versions this gateway serves, no token needed.

FIT-Connect's Submission API lists ``/info`` under its tag "Technisch" and the Routing API 2.0.0
answers ``{"version": {"major", "minor", "patch"}}`` there; both share ``/v1`` here, so the answer
has the Routing API's shape (the gateway's own version) plus what each API speaks.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.api import openapi
from gateway.config.model import METADATA_VERSIONS

router = APIRouter()


class Version(BaseModel):
    major: int
    minor: int
    patch: int


class Info(BaseModel):
    """The gateway's version and the APIs it serves."""

    name: str
    version: Version
    submissionApi: list[str]
    routingApi: Version
    metadataVersions: list[str]


def _version() -> dict[str, int]:
    parts = [int(p) if p.isdecimal() else 0 for p in metadata.version("xoev-gateway").split(".")[:3]]
    major, minor, patch = [*parts, 0, 0, 0][:3]
    return {"major": major, "minor": minor, "patch": patch}


def _info() -> dict[str, Any]:
    return {
        "name": "xoev-gateway",
        "version": _version(),
        "submissionApi": ["v1", "v2"],
        "routingApi": {"major": 2, "minor": 0, "patch": 0},
        "metadataVersions": list(METADATA_VERSIONS),
    }


for _prefix in ("/v1", "/v2"):
    router.add_api_route(
        f"{_prefix}/info",
        _info,
        methods=["GET"],
        response_model=Info,
        summary="Version information (no token needed)",
        tags=[openapi.ADMIN],
        responses=openapi.problems(),
        operation_id=f"get_info_{_prefix[1:]}",
    )
