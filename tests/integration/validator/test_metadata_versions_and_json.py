"""Metadata 1.x and 2.x and JSON data through the validation stage: every supported version is
validated end to end (and rejected when invalid), a destination's ``metadataVersions`` is
enforced, and FIM JSON data is checked against the shipped JSON schemas with JSON pointers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config.model import METADATA_VERSIONS
from gateway.config.settings import Settings
from gateway.stages.validate import Validator
from gateway.validation import default_schema_root
from tests.conftest import ACTIVE, LEIKA, OTHER, SECRET, XBAU, make_settings
from tests.helpers import new_id
from tests.integration.validator.conftest import REGION
from tests.integration.validator.support import (
    PDF,
    XBAU_SAMPLE,
    public_key,
    rejected_with,
    rejection,
    send,
    status,
)

BASE = "https://schemas.xoev-gateway.invalid/fim"
HUND = f"{BASE}/hundesteuer-anmeldung/1.0/schema.json"
PARK = f"{BASE}/bewohnerparkausweis/1.0/schema.json"
JSON_SETS = default_schema_root() / "json"
RESTRICTED = ["1.0.0", "2.1.0"]


def sample(set_name: str, name: str) -> bytes:
    return (JSON_SETS / set_name / "samples" / name).read_bytes()


@pytest.fixture
def vsettings(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], database_url: str
) -> Settings:
    """ACTIVE accepts every metadata version (the default), OTHER only 1.0.0 and 2.1.0."""
    service = {
        "identifier": LEIKA,
        "name": "Baugenehmigung",
        "regions": [REGION],
        "reply_channels": {"eMail": {}},  # the 2.x metadata of these tests chooses it
        "submission_schemas": [
            {"schema_uri": XBAU, "mime_type": "application/xml"},
            {"schema_uri": HUND, "mime_type": "application/json"},
            {"schema_uri": PARK, "mime_type": "application/json"},
            {
                "schema_uri": "https://schema.fitko.de/fim/s00000000_1.0.schema.json",
                "mime_type": "application/json",
            },
        ],
    }
    tenants = [
        {
            "id": "musterstadt",
            "destinations": [
                {"id": ACTIVE, "services": [service]},
                {"id": OTHER, "services": [service], "metadata_versions": RESTRICTED},
            ],
        }
    ]
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    return make_settings(tmp_path, key_template, database_url, tenants, clients)


def metadata(version: str, data: bytes, schema_uri: str, mime: str, attachments: dict[str, bytes]) -> bytes:
    """Metadata of ``version`` in its major's structure, as current senders write it."""
    content: dict[str, Any] = {
        "data": {
            "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
            "submissionSchema": {"schemaUri": schema_uri, "mimeType": mime},
        },
        "attachments": [
            {
                "attachmentId": aid,
                "hash": {"type": "sha512", "content": hashlib.sha512(body).hexdigest()},
                "mimeType": "application/pdf",
                "purpose": "attachment",
                **({"filename": "plan.pdf", "description": "Lageplan"} if version >= "2" else {}),
            }
            for aid, body in attachments.items()
        ],
    }
    document: dict[str, Any] = {
        "$schema": f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json",
        "contentStructure": content,
    }
    if version >= "2":
        document["publicService"] = {"identifier": LEIKA, "name": "Baugenehmigung"}
        document["replyChannel"] = {"eMail": {"address": "antrag@example.org"}}
        document["additionalReferenceInfo"] = {"senderReference": "AZ-4711"}
    else:
        document["publicServiceType"] = {"identifier": LEIKA, "name": "Baugenehmigung"}
    return json.dumps(document).encode()


async def submit(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    version: str,
    data: bytes = XBAU_SAMPLE,
    schema_uri: str = XBAU,
    mime: str = "application/xml",
    **options: Any,
) -> dict[str, str]:
    attachments = {new_id(): PDF}
    meta = metadata(version, data, schema_uri, mime, attachments)
    return await send(vapi, auth, key, data, schema_uri, mime, attachments=attachments, meta=meta, **options)


@pytest.mark.parametrize("version", METADATA_VERSIONS)
async def test_each_supported_version_is_validated_end_to_end(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, version: str
) -> None:
    ref = await submit(vapi, auth, key, version)
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status == "validated", outcome.problems
    assert await status(vapi, ref["submissionId"]) == "validated"


@pytest.mark.parametrize("version", METADATA_VERSIONS)
async def test_each_supported_version_rejects_invalid_metadata(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, version: str
) -> None:
    broken = json.loads(metadata(version, XBAU_SAMPLE, XBAU, "application/xml", {}))
    broken["contentStructure"]["data"]["hash"]["content"] = "A" * 128
    ref = await send(vapi, auth, key, XBAU_SAMPLE, XBAU, meta=json.dumps(broken).encode())
    assert await rejected_with(vapi, auth, validator, ref) == [("schema-violation", "metadata")]


async def test_the_destination_lists_its_metadata_versions(
    vapi: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    every = (await vapi.get(f"/v1/destinations/{ACTIVE}", headers=auth)).json()
    restricted = (await vapi.get(f"/v2/destinations/{OTHER}", headers=auth)).json()
    assert every["metadataVersions"] == list(METADATA_VERSIONS)
    assert restricted["metadataVersions"] == RESTRICTED


@pytest.mark.parametrize(
    ("version", "accepted"), [("2.1.0", True), ("1.0.0", True), ("2.0.0", False), ("1.2.0", False)]
)
async def test_a_version_the_destination_does_not_list_is_unsupported(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    validator: Validator,
    version: str,
    accepted: bool,
) -> None:
    other_key = await public_key(vapi, auth, OTHER)
    ref = await submit(vapi, auth, other_key, version, destination=OTHER)
    if accepted:
        assert (await validator.process(ref["submissionId"])).status == "validated"
    else:
        assert await rejected_with(vapi, auth, validator, ref) == [("unsupported-schema", "metadata")]


@pytest.mark.parametrize(
    ("schema_uri", "set_name"),
    [(HUND, "fim-hundesteuer-anmeldung-1.0"), (PARK, "fim-bewohnerparkausweis-1.0")],
)
@pytest.mark.parametrize("name", ["valid-minimal.json", "valid-maximal.json"])
async def test_valid_fim_json_data_is_accepted(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    validator: Validator,
    schema_uri: str,
    set_name: str,
    name: str,
) -> None:
    ref = await submit(vapi, auth, key, "2.1.0", sample(set_name, name), schema_uri, "application/json")
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status == "validated", outcome.problems


async def test_invalid_fim_json_data_is_rejected_with_json_pointers(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    data = sample("fim-bewohnerparkausweis-1.0", "invalid-several.json")
    ref = await submit(vapi, auth, key, "1.0.0", data, PARK, "application/json")
    assert await rejected_with(vapi, auth, validator, ref) == [("schema-violation", "data")]
    (problem,) = await rejection(vapi, auth, ref)
    detail = problem["detail"].splitlines()
    assert detail[0].startswith("4 schema violation(s) against " + PARK)
    assert [line.split(":", 1)[0] for line in detail[1:]] == [
        "- /fahrzeug/kennzeichen",
        "- /gueltigAb",
        "- /laufzeitMonate",
        "- /nachweise",
    ]


@pytest.mark.parametrize(
    "data",
    [
        b'{"halter": 1, "halter": 2}',
        b'{"n": NaN}',
        b"[" * 100 + b"]" * 100,
        b'{"unterminated": ',
    ],
    ids=["duplicate-key", "nan", "too-deep", "broken"],
)
async def test_hostile_json_data_is_a_syntax_violation(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, data: bytes
) -> None:
    ref = await submit(vapi, auth, key, "2.1.0", data, HUND, "application/json")
    assert await rejected_with(vapi, auth, validator, ref) == [("syntax-violation", "data")]


async def test_json_data_of_an_unregistered_schema_is_unsupported(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    uri = "https://schema.fitko.de/fim/s00000000_1.0.schema.json"  # offered, but no schema shipped
    ref = await submit(vapi, auth, key, "2.1.0", b"{}", uri, "application/json")
    assert await rejected_with(vapi, auth, validator, ref) == [("unsupported-schema", "data")]
