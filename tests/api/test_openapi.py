"""The OpenAPI document tells an integrator everything: bodies, security, problems, tags."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.api.openapi import PROBLEMS, TAGS
from gateway.api.problems import MEDIA_TYPE, problem_type
from gateway.app import create_app
from gateway.config.settings import Settings

#: Operations that read a body, and its media type.
BODIES = {
    ("post", "/token"): "application/x-www-form-urlencoded",
    **{("post", f"/{v}/submissions"): "application/json" for v in ("v1", "v2")},
    **{("put", f"/{v}/submissions/{{submission_id}}"): "application/json" for v in ("v1", "v2")},
    **{("post", f"/{v}/validate"): "application/json" for v in ("v1", "v2")},
    **{
        ("put", f"/{v}/submissions/{{submission_id}}/attachments/{{attachment_id}}"): "application/jose"
        for v in ("v1", "v2")
    },
    **{("post", f"/{v}/cases/{{case_id}}/events"): "application/jose" for v in ("v1", "v2")},
    ("post", "/admin/v1/parked/replay"): "application/json",
    ("post", "/admin/v1/parked/{submission_id}/reject"): "application/json",
    ("post", "/admin/v1/destinations/{destination_id}/{action}"): "application/json",
    ("post", "/admin/v1/destinations/{destination_id}/keys/rotate"): "application/json",
    ("post", "/admin/v1/destinations/{destination_id}/keys/prune"): "application/json",
}
#: Operations for operators: HTTP Basic of an ``[[operators]]`` entry, never a sender's token.
ADMIN = "/admin/v1/"
#: Operations anyone may call.
PUBLIC = {
    ("post", "/token"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/health"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/destinations/{destination_id}/keys/{kid}"),
    ("get", "/v2/destinations/{destination_id}/keys/{kid}"),
    ("get", "/v2/destinations/{destination_id}/keys"),
    ("get", "/v1/routes"),
    ("get", "/v1/areas"),
    ("get", "/v1/info"),
    ("get", "/v2/info"),
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings.load(None)).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_body_is_declared_with_a_schema_and_an_example(document: dict[str, Any]) -> None:
    declared = {}
    for method, path, op in operations(document):
        if "requestBody" in op:
            assert op["requestBody"]["required"] is True, (method, path)
            ((media_type, content),) = op["requestBody"]["content"].items()
            schema = content["schema"]
            if "$ref" in schema:  # a model of the admin API, kept in components
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            assert schema.get("type") in {"object", "string"}, (method, path)
            assert content["example"], (method, path)
            declared[method, path] = media_type
    assert declared == BODIES


def test_the_token_form_names_the_client_credentials_grant(document: dict[str, Any]) -> None:
    form = document["paths"]["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["required"] == ["grant_type", "client_id", "client_secret"]
    assert form["example"]["grant_type"] == "client_credentials"


def test_json_bodies_are_inlined_without_dangling_references(document: dict[str, Any]) -> None:
    schema = document["paths"]["/v1/submissions"]["post"]["requestBody"]["content"]["application/json"]
    assert "$ref" not in str(schema) and "$defs" not in str(schema)
    assert "destinationId" in schema["schema"]["required"]


def test_the_bearer_scheme_guards_every_sender_operation_and_basic_every_admin_one(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/token"
    operator = document["components"]["securitySchemes"]["operator"]
    assert (operator["type"], operator["scheme"]) == ("http", "basic")
    for method, path, op in operations(document):
        guarded = (method, path) not in PUBLIC
        scheme = "operator" if path.startswith(ADMIN) else "bearer"
        assert op.get("security", []) == ([{scheme: []}] if guarded else []), (method, path)
        assert ("401" in op["responses"]) == (guarded or path == "/token"), (method, path)


def test_every_error_response_is_a_problem_with_its_types(document: dict[str, Any]) -> None:
    slug_of = {problem_type(slug): slug for slug in PROBLEMS}
    for method, path, op in operations(document):
        errors = {status: r for status, r in op["responses"].items() if int(status) >= 400}
        assert {"422", "500"} <= set(errors), (method, path)
        for status, response in errors.items():
            if (method, path, status) == ("post", "/token", "400"):
                continue  # RFC 6749's own error body: {"error": "unsupported_grant_type"}
            content = response["content"]
            assert list(content) == [MEDIA_TYPE], (method, path, status)
            types = content[MEDIA_TYPE]["schema"]["properties"]["type"]["enum"]
            assert set(types) == {e["value"]["type"] for e in content[MEDIA_TYPE]["examples"].values()}
            assert all(PROBLEMS[slug_of[t]][0] == int(status) for t in types), (method, path, status)


def test_the_problem_catalogue_uses_fit_connect_types_where_they_exist() -> None:
    assert problem_type("destination-not-found").startswith("https://schema.fitko.de/")
    assert problem_type("invalid-token") == "urn:xoev-gateway:problem:invalid-token"
    assert all(status >= 400 for status, _ in PROBLEMS.values())


def test_tags_group_the_operations_and_each_tag_is_used(document: dict[str, Any]) -> None:
    names = [tag["name"] for tag in TAGS]
    assert [tag["name"] for tag in document["tags"]] == names
    used = {tag for _, _, op in operations(document) for tag in op["tags"]}
    assert used == set(names)
    assert all(len(op["tags"]) == 1 for _, _, op in operations(document))
    tag_of = {(m, p): op["tags"][0] for m, p, op in operations(document)}
    assert tag_of["post", "/v1/submissions"] == "sender"
    assert tag_of["get", "/v2/destinations/{destination_id}"] == "routing"
    assert tag_of["post", "/v2/validate"] == "dry-run"
    assert tag_of["get", "/.well-known/jwks.json"] == "keys"
    assert tag_of["get", "/health"] == "admin"
