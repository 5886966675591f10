"""Every supported metadata version: the 1.x family and the 2.x structure."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gateway.config.model import METADATA_VERSIONS, DestinationConfig
from gateway.validation import MetadataSchemas, SchemaViolationError, UnsupportedSchemaError

HASH = "0123456789abcdef" * 8
ATTACHMENT = {
    "attachmentId": "0b8e4f3e-3a64-4e6f-9d2c-1c0f6f0b7a11",
    "hash": {"type": "sha512", "content": HASH},
    "mimeType": "application/pdf",
    "purpose": "attachment",
}
DATA = {
    "hash": {"type": "sha512", "content": HASH},
    "submissionSchema": {"schemaUri": "urn:xoev-de:bmk:standard:xbau_2.6", "mimeType": "application/xml"},
}
SERVICE = {"identifier": "urn:de:fim:leika:leistung:99400048079000", "name": "Bauantrag"}


def url(version: str) -> str:
    return f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json"


def metadata(version: str) -> dict[str, Any]:
    """A valid document of ``version`` in its major's structure (a fresh copy)."""
    return copy.deepcopy(_metadata(version))


def _metadata(version: str) -> dict[str, Any]:
    if version.startswith("1."):
        return {
            "$schema": url(version),
            "publicServiceType": SERVICE,
            "contentStructure": {"data": DATA, "attachments": [ATTACHMENT]},
            "replyChannel": {"eMail": {"address": "antrag@example.org"}},
        }
    return {  # as php-fitconnect writes 2.1.0, with the fields 2.x added
        "$schema": url(version),
        "publicService": SERVICE,
        "contentStructure": {
            "data": DATA,
            "attachments": [{**ATTACHMENT, "filename": "plan.pdf", "description": "Lageplan"}],
        },
        "replyChannel": {"fitConnect": {"processStandards": ["urn:xoev-de:bmk:standard:xbau_2.6"]}},
        "additionalReferenceInfo": {"senderReference": "AZ-2025-0815"},
        "author": {"name": "Antragsportal"},
    }


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def test_the_supported_versions_are_the_manifest_and_the_default(metadata_schemas: MetadataSchemas) -> None:
    assert metadata_schemas.versions == METADATA_VERSIONS
    destination = DestinationConfig.model_validate(
        {
            "id": "6a0b2d31-5f37-4c39-a4b8-2f5a1a7c2b10",
            "services": [
                {
                    "identifier": SERVICE["identifier"],
                    "submission_schemas": [{"schema_uri": "urn:x", "mime_type": "application/xml"}],
                }
            ],
        }
    )
    assert destination.metadata_versions == list(METADATA_VERSIONS)


@pytest.mark.parametrize("version", METADATA_VERSIONS)
def test_each_version_accepts_a_document_of_its_structure(
    metadata_schemas: MetadataSchemas, version: str
) -> None:
    result = metadata_schemas.validate(encode(metadata(version)), allowed_versions={version})
    assert result.version == version and result.major == int(version[0])


@pytest.mark.parametrize("version", METADATA_VERSIONS)
def test_each_version_rejects_an_upper_case_hash(metadata_schemas: MetadataSchemas, version: str) -> None:
    document = metadata(version)
    document["contentStructure"]["attachments"][0]["hash"]["content"] = HASH.upper()
    with pytest.raises(SchemaViolationError) as caught:
        metadata_schemas.validate(encode(document), allowed_versions={version})
    assert [f.path for f in caught.value.findings] == ["/contentStructure/attachments/0/hash/content"]


def test_2x_requires_schema_data_hash_and_a_known_reply_channel_shape(
    metadata_schemas: MetadataSchemas,
) -> None:
    document = metadata("2.1.0")
    del document["contentStructure"]["data"]["hash"]
    document["replyChannel"] = {"eMail": {"address": "x@example.org"}, "deMail": {"address": "y@example.org"}}
    with pytest.raises(SchemaViolationError) as caught:
        metadata_schemas.validate(encode(document), allowed_versions={"2.1.0"})
    assert [f.path for f in caught.value.findings] == ["/contentStructure/data", "/replyChannel"]


def test_2x_without_attachments_is_valid(metadata_schemas: MetadataSchemas) -> None:
    document = metadata("2.0.0")
    del document["contentStructure"]["attachments"]
    assert metadata_schemas.validate(encode(document), allowed_versions={"2.0.0"}).version == "2.0.0"


def test_1x_fragments_need_at_least_one(metadata_schemas: MetadataSchemas) -> None:
    document = metadata("1.3.0")
    document["contentStructure"]["attachments"][0]["fragments"] = []
    with pytest.raises(SchemaViolationError):
        metadata_schemas.validate(encode(document), allowed_versions={"1.3.0"})


def test_a_version_the_destination_does_not_list_is_unsupported(metadata_schemas: MetadataSchemas) -> None:
    with pytest.raises(UnsupportedSchemaError, match="not accepted by this destination"):
        metadata_schemas.validate(encode(metadata("2.1.0")), allowed_versions={"1.0.0", "2.0.0"})
