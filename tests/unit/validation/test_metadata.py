"""FIT-Connect metadata: version selection and JSON Schema validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.validation import (
    CatalogueError,
    JsonSyntaxError,
    MetadataSchemas,
    SchemaViolationError,
    UnsupportedSchemaError,
)

SCHEMA_1_0_0 = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
HASH = "a" * 64 + "0123456789abcdef" * 4
# The minimal valid 1.x instance of PROTOCOL.md 5.2, with real values for the placeholders.
MINIMAL: dict[str, Any] = {
    "$schema": SCHEMA_1_0_0,
    "contentStructure": {
        "data": {
            "hash": {"type": "sha512", "content": HASH},
            "submissionSchema": {
                "schemaUri": "https://schema.fitko.de/fim/s17000717_1.0.schema.json",
                "mimeType": "application/json",
            },
        },
        "attachments": [
            {
                "attachmentId": "0b8e4f3e-3a64-4e6f-9d2c-1c0f6f0b7a11",
                "hash": {"type": "sha512", "content": HASH},
                "mimeType": "application/pdf",
                "purpose": "form",
                "filename": "antrag.pdf",
            }
        ],
    },
    "publicServiceType": {"identifier": "urn:de:fim:leika:leistung:99400048079000", "name": "Bauantrag"},
}
ALLOWED = {"1.0.0"}


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def test_minimal_instance_is_valid(metadata_schemas: MetadataSchemas) -> None:
    result = metadata_schemas.validate(encode(MINIMAL), allowed_versions=ALLOWED)
    assert result.version == "1.0.0"
    assert result.document["publicServiceType"] == MINIMAL["publicServiceType"]


def test_missing_schema_property_means_1_0_0(metadata_schemas: MetadataSchemas) -> None:
    document = {k: v for k, v in MINIMAL.items() if k != "$schema"}
    assert metadata_schemas.validate(encode(document), allowed_versions=ALLOWED).version == "1.0.0"
    with pytest.raises(UnsupportedSchemaError):
        metadata_schemas.validate(encode(document), allowed_versions={"1.1.0"})


def test_upper_case_hash_fails_the_pattern(metadata_schemas: MetadataSchemas) -> None:
    document = copy.deepcopy(MINIMAL)
    document["contentStructure"]["data"]["hash"]["content"] = HASH.upper()
    with pytest.raises(SchemaViolationError) as caught:
        metadata_schemas.validate(encode(document), allowed_versions=ALLOWED)
    (finding,) = caught.value.findings
    assert caught.value.slug == "schema-violation"
    assert finding.path == "/contentStructure/data/hash/content"
    assert finding.line is None and "does not match" in finding.message


def test_formats_are_checked(metadata_schemas: MetadataSchemas) -> None:
    document = copy.deepcopy(MINIMAL)
    document["contentStructure"]["attachments"][0]["attachmentId"] = "x" * 36
    document["replyChannel"] = {"eMail": {"address": "not-an-address"}}
    with pytest.raises(SchemaViolationError) as caught:
        metadata_schemas.validate(encode(document), allowed_versions=ALLOWED)
    paths = [f.path for f in caught.value.findings]
    assert paths == ["/contentStructure/attachments/0/attachmentId", "/replyChannel/eMail/address"]


def test_findings_are_capped_at_twenty(metadata_schemas: MetadataSchemas) -> None:
    document = copy.deepcopy(MINIMAL)
    document["contentStructure"]["attachments"] = [{"purpose": "nope"}] * 30
    with pytest.raises(SchemaViolationError) as caught:
        metadata_schemas.validate(encode(document), allowed_versions=ALLOWED)
    assert len(caught.value.findings) == 20 and caught.value.total > 20


@pytest.mark.parametrize(
    "declared",
    [
        "https://schema.fitko.de/fit-connect/metadata/1.1.0/metadata.schema.json",  # not allowed
        "https://schema.fitko.de/fit-connect/metadata/9.9.9/metadata.schema.json",
        "https://evil.example/metadata/1.0.0/metadata.schema.json",
        "1.0.0",
        42,
    ],
)
def test_unknown_or_unallowed_version_is_unsupported(
    metadata_schemas: MetadataSchemas, declared: object
) -> None:
    document = {**MINIMAL, "$schema": declared}
    with pytest.raises(UnsupportedSchemaError) as caught:
        metadata_schemas.validate(encode(document), allowed_versions=ALLOWED)
    assert caught.value.slug == "unsupported-schema"


def test_allowed_but_unloaded_version_is_unsupported(metadata_schemas: MetadataSchemas) -> None:
    document = {**MINIMAL, "$schema": SCHEMA_1_0_0.replace("1.0.0", "1.4.0")}
    with pytest.raises(UnsupportedSchemaError, match="not supported by this gateway"):
        metadata_schemas.validate(encode(document), allowed_versions={"1.0.0", "1.4.0"})


def test_version_not_allowed_by_the_destination(metadata_schemas: MetadataSchemas) -> None:
    with pytest.raises(UnsupportedSchemaError, match="not accepted by this destination"):
        metadata_schemas.validate(encode(MINIMAL), allowed_versions={"1.2.0"})


@pytest.mark.parametrize("data", [b"[]", b'"x"', b"null"])
def test_metadata_must_be_an_object(metadata_schemas: MetadataSchemas, data: bytes) -> None:
    with pytest.raises(SchemaViolationError):
        metadata_schemas.validate(data, allowed_versions=ALLOWED)


def test_metadata_is_parsed_strictly(metadata_schemas: MetadataSchemas) -> None:
    data = b'{"contentStructure": {"attachments": []}, "contentStructure": {"attachments": []}}'
    with pytest.raises(JsonSyntaxError):
        metadata_schemas.validate(data, allowed_versions=ALLOWED)


def write_manifest(root: Path, body: str) -> Path:
    folder = root / "fit-connect" / "metadata"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text(body, encoding="utf-8")
    return folder


def test_a_fitko_schema_must_carry_its_version_url(tmp_path: Path, schema_root: Path) -> None:
    folder = write_manifest(tmp_path, '[[version]]\nversion = "2.0.0"\nschema = "x.json"\norigin = "fitko"\n')
    source = schema_root / "fit-connect" / "metadata" / "1.0.0" / "metadata.schema.json"
    (folder / "x.json").write_bytes(source.read_bytes())
    with pytest.raises(CatalogueError, match="does not match version 2.0.0"):
        MetadataSchemas.load(tmp_path)


def test_a_schema_of_our_own_never_claims_a_fitko_url(tmp_path: Path, schema_root: Path) -> None:
    folder = write_manifest(tmp_path, '[[version]]\nversion = "1.0.0"\nschema = "x.json"\norigin = "ours"\n')
    source = schema_root / "fit-connect" / "metadata" / "1.0.0" / "metadata.schema.json"
    (folder / "x.json").write_bytes(source.read_bytes())
    with pytest.raises(CatalogueError, match="outside schema.fitko.de"):
        MetadataSchemas.load(tmp_path)


def test_no_manifest_is_a_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no metadata manifest"):
        MetadataSchemas.load(tmp_path)


def test_shipped_schema_is_the_reference_copy(schema_root: Path) -> None:
    shipped = schema_root / "fit-connect" / "metadata" / "1.0.0"
    assert json.loads((shipped / "metadata.schema.json").read_text())["$id"] == SCHEMA_1_0_0
    assert (shipped / "PROVENANCE.md").is_file()
