"""The JSON Schema registry for JSON data: shipped FIM schemas, findings, offline ``$ref``s."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from gateway.validation import (
    CatalogueError,
    JsonSchemaRegistry,
    SchemaViolationError,
    UnsupportedSchemaError,
    parse_json_strict,
)

HUND = "https://schemas.xoev-gateway.invalid/fim/hundesteuer-anmeldung/1.0/schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@pytest.fixture(scope="module")
def registry(schema_root: Path) -> JsonSchemaRegistry:
    return JsonSchemaRegistry.load(schema_root)


def test_every_shipped_sample_passes_or_fails_as_declared(registry: JsonSchemaRegistry) -> None:
    assert len(registry.samples) == 6
    for sample in registry.samples:
        document = parse_json_strict(sample.path.read_bytes())
        if sample.valid:
            registry.validate(sample.schema_uri, document)
        else:
            with pytest.raises(SchemaViolationError):
                registry.validate(sample.schema_uri, document)


def test_findings_carry_json_pointers_through_refs(registry: JsonSchemaRegistry, schema_root: Path) -> None:
    data = (
        schema_root / "json" / "fim-hundesteuer-anmeldung-1.0" / "samples" / "invalid-several.json"
    ).read_bytes()
    with pytest.raises(SchemaViolationError) as caught:
        registry.validate(HUND, parse_json_strict(data))
    paths = [f.path for f in caught.value.findings]
    assert paths == [
        "",
        "/anschrift/postleitzahl",
        "/erklaerungen/angabenWahrheitsgemaess",
        "/halter",
        "/halter/geburtsdatum",
        "/hund/geschlecht",
    ]
    assert caught.value.slug == "schema-violation" and caught.value.total == 6


def test_pointers_escape_tilde_and_slash(tmp_path: Path) -> None:
    root = write_set(
        tmp_path,
        {"$schema": DRAFT, "$id": "https://t.invalid/a", "additionalProperties": {"type": "integer"}},
    )
    with pytest.raises(SchemaViolationError) as caught:
        JsonSchemaRegistry.load(root).validate("https://t.invalid/a", {"a/b~c": "x"})
    assert [f.path for f in caught.value.findings] == ["/a~1b~0c"]


def test_findings_are_capped_at_twenty(tmp_path: Path) -> None:
    root = write_set(tmp_path, {"$schema": DRAFT, "$id": "https://t.invalid/a", "items": {"type": "integer"}})
    with pytest.raises(SchemaViolationError) as caught:
        JsonSchemaRegistry.load(root).validate("https://t.invalid/a", ["x"] * 30)
    assert len(caught.value.findings) == 20 and caught.value.total == 30


def test_unknown_schema_uri_is_unsupported(registry: JsonSchemaRegistry) -> None:
    with pytest.raises(UnsupportedSchemaError) as caught:
        registry.validate("https://schema.fitko.de/fim/s00000000_1.0.schema.json", {})
    assert caught.value.slug == "unsupported-schema"


def test_building_blocks_are_not_accepted_schema_uris(registry: JsonSchemaRegistry) -> None:
    assert not registry.knows("https://schemas.xoev-gateway.invalid/fim/baukasten/1.0/schema.json")
    assert registry.knows(HUND)


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # pragma: no cover - must never be reached
        _Counting.hits.append(self.path)
        body = json.dumps({"$schema": DRAFT, "type": "string"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def schema_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/remote.schema.json"
    finally:
        server.shutdown()
        server.server_close()


def test_a_ref_to_an_http_url_is_refused_without_fetching(tmp_path: Path, schema_server: str) -> None:
    _Counting.hits.clear()
    root = write_set(
        tmp_path,
        {"$schema": DRAFT, "$id": "https://t.invalid/a", "properties": {"x": {"$ref": schema_server}}},
    )
    with pytest.raises(CatalogueError, match="does not resolve inside the registry"):
        JsonSchemaRegistry.load(root)
    assert _Counting.hits == []


def test_only_draft_2020_12(tmp_path: Path) -> None:
    root = write_set(
        tmp_path, {"$schema": "http://json-schema.org/draft-07/schema#", "$id": "https://t.invalid/a"}
    )
    with pytest.raises(CatalogueError, match="draft 2020-12"):
        JsonSchemaRegistry.load(root)


def test_an_id_claimed_by_two_sets_is_refused(tmp_path: Path) -> None:
    schema = {"$schema": DRAFT, "$id": "https://t.invalid/a"}
    write_set(tmp_path, schema, name="one-1")
    root = write_set(tmp_path, schema, name="two-1")
    with pytest.raises(CatalogueError, match="also declared"):
        JsonSchemaRegistry.load(root)


def test_no_json_sets_accept_nothing(tmp_path: Path) -> None:
    registry = JsonSchemaRegistry.load(tmp_path)
    assert registry.entries() == () and not registry.knows(HUND)


def write_set(tmp_path: Path, schema: Mapping[str, object], *, name: str = "t-1") -> Path:
    root = tmp_path / "schemas"
    folder = root / "json" / name
    folder.mkdir(parents=True)
    (folder / "s.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    manifest = (
        f'[set]\nname = "{name}"\nstandard = "Test"\nversion = "1"\norigin = "ours"\n'
        '[[schema]]\nfile = "s.schema.json"\n'
    )
    (folder / "manifest.toml").write_text(manifest, encoding="utf-8")
    return root
