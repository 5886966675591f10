"""The FIT-Connect Routing API (2.0.0) over the configured destinations: ``GET /v1/routes`` and
``GET /v1/areas``, public like FITKO's.

Query errors are 400 ``query-invalid`` (the spec's status, not FastAPI's 422); no match is an
empty list. Results are ordered by destination (routes) or area id (areas) and paged with
``offset`` and ``limit`` (1-500, default 100).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gateway.api import openapi
from gateway.api.addressing import Addressing, Area, public_keys, serves
from gateway.api.deps import AddressingOf, Sessions
from gateway.errors import ClientError
from gateway.pools import Pool, run_in
from gateway.store.directory import active_destinations, public_keys_of, tenant_names
from gateway.store.models import Destination

router = APIRouter(prefix="/v1")

_LEIKA = re.compile(r"^99\d{12}$")
_AREA = {
    "ars": re.compile(r"^(\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$"),
    "ags": re.compile(r"^(\d{2}|\d{3}|\d{5}|\d{8})$"),
    "areaId": re.compile(r"^\d{1,12}$"),
}
_SEARCH = re.compile(r"^(\*?([^*]{2,})\*?)*$")
_AREA_TYPES = {2: "Land", 3: "Regierungsbezirk", 5: "Kreis", 9: "Gemeindeverband", 12: "Gemeinde"}


def _invalid(detail: str) -> ClientError:
    return ClientError(detail, slug="query-invalid")


def _int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not value.isdecimal() or not low <= int(value) <= high:
        raise _invalid(f"{name} must be an integer from {low} to {high}")
    return int(value)


def _page(offset: str | None, limit: str | None) -> tuple[int, int]:
    return _int(offset, "offset", 0, 2**31 - 1, 0), _int(limit, "limit", 1, 500, 100)


class Route(BaseModel):
    """A destination that serves the service in the area, with signed addressing information."""

    destinationId: str
    destinationSignature: str
    destinationName: str
    destinationParameters: dict[str, Any]
    destinationParametersSignature: str


class RouteResult(BaseModel):
    count: int
    offset: int
    totalCount: int
    routes: list[Route]


class AreaEntry(BaseModel):
    id: str
    name: str
    type: str


class AreaResult(BaseModel):
    count: int
    offset: int
    totalCount: int
    areas: list[AreaEntry]


def _area(ags: str | None, ars: str | None, area_id: str | None) -> Area:
    given = [(k, v) for k, v in (("ags", ags), ("ars", ars), ("areaId", area_id)) if v is not None]
    if len(given) != 1:
        raise _invalid("exactly one of ags, ars and areaId is required")
    kind, key = given[0]
    if not _AREA[kind].match(key):
        raise _invalid(f"{kind} has the wrong format")
    return Area(kind, key)


def _parameters(
    addressing: Addressing, destination: Destination, service: dict[str, Any], keys: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "encryptionKid": destination.encryption_kid,
        "metadataVersions": list(destination.metadata_versions),
        "publicKeys": {"keys": keys},
        "replyChannels": service.get("reply_channels") or destination.reply_channels,
        "status": destination.status,
        "submissionSchemas": [
            {"schemaUri": s["schema_uri"], "mimeType": s["mime_type"]} for s in service["submission_schemas"]
        ],
        "submissionUrl": addressing.issuer,
    }


@router.get(
    "/routes",
    response_model=RouteResult,
    summary="Find the destination of a service (LeiKa key) in an area (ars, ags or areaId)",
    tags=[openapi.ROUTING],
    responses=openapi.problems("query-invalid"),
)
async def routes(
    sessions: Sessions,
    addressing: AddressingOf,
    leikaKey: Annotated[str | None, Query(description="LeiKa key, `^99\\d{12}$`")] = None,
    ags: Annotated[str | None, Query(description="AGS, 2, 3, 5 or 8 digits")] = None,
    ars: Annotated[str | None, Query(description="ARS, 2, 3, 5, 9 or 12 digits")] = None,
    areaId: Annotated[str | None, Query(description="an area id of `GET /v1/areas`")] = None,
    offset: Annotated[str | None, Query(description="integer >= 0, default 0")] = None,
    limit: Annotated[str | None, Query(description="integer 1-500, default 100")] = None,
) -> dict[str, Any]:
    if leikaKey is None or not _LEIKA.match(leikaKey):
        raise _invalid("leikaKey is required: 99 and 12 more digits")
    area = _area(ags, ars, areaId)
    start, size = _page(offset, limit)
    async with sessions() as session:
        active = await active_destinations(session)
        matches = [(d, s) for d in active if (s := serves(d, leikaKey, area)) is not None]
        page = matches[start : start + size]
        keys = await public_keys_of(session, [d.id for d, _ in page], "encryption")
    found = []
    for destination, service in page:
        own = [k for k in keys if k.destination_id == destination.id]
        parameters = _parameters(addressing, destination, service, public_keys(destination, own))
        found.append(
            {
                "destinationId": destination.id,
                "destinationSignature": await run_in(
                    Pool.SIGNING, addressing.destination_signature, destination
                ),
                "destinationName": destination.name,
                "destinationParameters": parameters,
                "destinationParametersSignature": await run_in(
                    Pool.SIGNING, addressing.parameters_signature, parameters
                ),
            }
        )
    return {"count": len(found), "offset": start, "totalCount": len(matches), "routes": found}


def _matches(expression: str, area: AreaEntry) -> bool:
    pattern = (expression if "*" in expression else f"*{expression}*").lower()
    return fnmatch.fnmatchcase(area.id, pattern) or fnmatch.fnmatchcase(area.name.lower(), pattern)


@router.get(
    "/areas",
    response_model=AreaResult,
    summary="Search the areas the configured services cover (ARS keys, names of their authorities)",
    tags=[openapi.ROUTING],
    responses=openapi.problems("query-invalid"),
)
async def areas(
    sessions: Sessions,
    areaSearchexpression: Annotated[
        list[str] | None,
        Query(description="1-10 terms, all must match an area's id or name; `*` is a wildcard"),
    ] = None,
    offset: Annotated[str | None, Query(description="integer >= 0, default 0")] = None,
    limit: Annotated[str | None, Query(description="integer 1-500, default 100")] = None,
) -> dict[str, Any]:
    terms = areaSearchexpression or []
    if not 1 <= len(terms) <= 10 or not all(_SEARCH.match(t) and len(t) <= 100 for t in terms):
        raise _invalid("areaSearchexpression: 1-10 terms of at least 2 characters besides '*'")
    start, size = _page(offset, limit)
    async with sessions() as session:
        active = await active_destinations(session)
        tenants = await tenant_names(session)
    known: dict[str, AreaEntry] = {}
    for destination in active:
        for service in destination.services:
            for region in service.get("regions", []):
                if region == "DE":  # not an area id; ``ars=<Land>`` finds a country-wide service
                    continue
                name = tenants.get(destination.tenant_id) or destination.name
                kind = _AREA_TYPES.get(len(region), "Gebiet")
                known.setdefault(region, AreaEntry(id=region, name=name, type=kind))
    found = [a for _, a in sorted(known.items()) if all(_matches(t, a) for t in terms)]
    page = found[start : start + size]
    return {"count": len(page), "offset": start, "totalCount": len(found), "areas": page}
