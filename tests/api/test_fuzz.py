"""schemathesis against the gateway's own OpenAPI document, in process: no operation answers 5xx,
and every status code, content type and body is the one the document declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from gateway.app import Libraries, create_app
from gateway.config.settings import Settings
from tests.conftest import SECRET, make_settings, tenants

# a compact JWE is text; schemathesis sends it as it sends text/plain
schemathesis.serializer.alias("application/jose", "text/plain")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, key_template: Path, secret_hashes: dict[str, str]
) -> OpenApiSchema:
    """The document of one gateway on SQLite; schemathesis runs its lifespan around each test."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    gateway_settings = make_settings(
        tmp_path, key_template, f"sqlite+aiosqlite:///{tmp_path / 'db'}", tenants(), clients
    )
    app = create_app(gateway_settings, Libraries.load())  # schemas compiled once, not at every lifespan
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def bearer(api_schema: OpenApiSchema) -> dict[str, str]:
    """A valid token, so that generated requests get past authentication."""
    form: dict[str, Any] = {
        "grant_type": "client_credentials",
        "client_id": "portal",
        "client_secret": SECRET,
    }
    case = api_schema["/token"]["POST"].Case(body=form, media_type="application/x-www-form-urlencoded")
    response = case.call()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


#: (method, path) of every documented operation, from a document built without I/O.
OPERATIONS = [
    (method.upper(), path)
    for path, ops in create_app(Settings.load(None)).openapi()["paths"].items()
    for method in ops
]


# not schemathesis' own parametrization (schema.parametrize): its lazy fixture loader reads a private
# attribute of pytest's test items that pytest 9 no longer has
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_answers_as_documented(
    api_schema: OpenApiSchema, bearer: dict[str, str], method: str, path: str
) -> None:
    @given(case=api_schema[path][method].as_strategy())
    @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def answers_as_documented(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers=bearer)
        case.validate_response(response, checks=CHECKS)

    answers_as_documented()
