"""A gateway whose test destination offers every catalogued standard (and two it cannot check),
on SQLite and PostgreSQL, with the validator and the dry-run route attached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.stages.validate import Validator
from tests.conftest import ACTIVE, LEIKA, OTHER, SECRET, XBAU, make_settings
from tests.helpers import bearer, token
from tests.integration.validator.support import attach_validator, public_key

LEIKA_2 = "urn:de:fim:leika:leistung:99066006002000"
XDOMEA = "urn:xoev-de:xdomea:schema:3.0.0"
XJUSTIZ = "urn:xoev-de:blk-ag-it-standards:standard:xjustiz_3.5.1"
XWASSER = "urn:xoev-de:lgl:standard:xwasser_1.0.0"
XRECHNUNG = "urn:xoev-de:kosit:standard:xrechnung_3.0"
UNKNOWN_XML = "urn:xoev-de:example:standard:unbekannt_1.0"
FIM_JSON = "https://schema.fitko.de/fim/s00000000_1.0.schema.json"
URI_BY_SET = {
    "xbau-2.6": XBAU,
    "xdomea-3.0.0": XDOMEA,
    "xjustiz-3.5.1": XJUSTIZ,
    "xwasser-1.0.0": XWASSER,
    "ubl-2.1-xrechnung": XRECHNUNG,
    "cii-d16b-xrechnung": XRECHNUNG,
}
REGION = "064350014014"


def _schemas(uris: list[str], json_uris: tuple[str, ...] = ()) -> list[dict[str, str]]:
    return [{"schema_uri": u, "mime_type": "application/xml"} for u in uris] + [
        {"schema_uri": u, "mime_type": "application/json"} for u in json_uris
    ]


def validator_tenants() -> list[dict[str, Any]]:
    every = sorted(set(URI_BY_SET.values())) + [UNKNOWN_XML]
    services = [
        {
            "identifier": LEIKA,
            "name": "Baugenehmigung",
            "regions": [REGION],
            "submission_schemas": _schemas(every, (FIM_JSON,)),
        },
        {
            "identifier": LEIKA_2,
            "name": "Bauvoranfrage",
            "regions": [REGION],
            "submission_schemas": _schemas([XBAU]),
        },
    ]
    return [
        {
            "id": "musterstadt",
            "name": "Musterstadt",
            "destinations": [{"id": ACTIVE, "name": "Bauamt", "services": services}],
        },
        {
            "id": "beispieldorf",
            "destinations": [{"id": OTHER, "services": [{**services[1], "regions": ["091620000000"]}]}],
        },
    ]


@pytest.fixture
def vsettings(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], database_url: str
) -> Settings:
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    return make_settings(tmp_path, key_template, database_url, validator_tenants(), clients)


@pytest.fixture
async def vapi(vsettings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(vsettings)
    async with app.router.lifespan_context(app):
        attach_validator(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
def validator(vapi: httpx.AsyncClient) -> Validator:
    return attach_validator(vapi.app)  # type: ignore[attr-defined]


@pytest.fixture
async def auth(vapi: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(vapi))


@pytest.fixture
async def key(vapi: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    """The destination's current public encryption key, as a sender fetches it."""
    return await public_key(vapi, auth)
