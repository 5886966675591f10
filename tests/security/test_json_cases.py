"""Cases C1-C5 (SECURITY-CASES.md, "C. JSON") in the encrypted metadata: each hostile document is
rejected by the validation stage as ``syntax-violation`` of ``metadata`` (a signed reject event,
never a crash), fast, and the stage keeps working afterwards. The dry run says the same, and a
hostile dry-run *request body* is refused before anything is decrypted."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.stages.validate import Validator
from tests.conftest import ACTIVE, LEIKA, XBAU
from tests.helpers import bearer, counts, encrypt, encryption_key, token
from tests.integration.validator.support import attach_validator, metadata, rejection, send, slugs

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
XBAU_SAMPLE = (
    REPO / "tests/data/corpus/xbau-2.6/samples/made-here/MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
).read_bytes()


def _valid_with(fragment: str) -> bytes:
    """Valid metadata with ``fragment`` spliced in as the value of an extra member."""
    doc = metadata(XBAU_SAMPLE, {}, XBAU).decode()
    return (doc[:-1] + f', "extra": {fragment}}}').encode()


HOSTILE: dict[str, bytes] = {
    "C1 deep nesting (100000 arrays)": b"[" * 100_000 + b"]" * 100_000,
    "C1 deep nesting inside an object": _valid_with('{"a":' * 5_000 + "1" + "}" * 5_000),
    "C2 integer with 5000 digits": _valid_with("1" * 5_000),
    "C2 1e999": _valid_with("1e999"),
    "C2 -1e999": _valid_with("-1e999"),
    "C3 duplicate keys": _valid_with("1").replace(b'"extra"', b'"$schema": "x", "extra"', 1),
    "C3 duplicate contentStructure": metadata(XBAU_SAMPLE, {}, XBAU)[:-1] + b', "contentStructure": {}}',
    "C4 NaN": _valid_with("NaN"),
    "C4 Infinity": _valid_with("Infinity"),
    "C4 -Infinity": _valid_with("-Infinity"),
    "C5 NUL in a string": _valid_with('"a\\u0000b"'),
    "C5 lone surrogate": _valid_with('"\\ud800"'),
    "C5 raw NUL byte": _valid_with('"a\x00b"'),
    "invalid UTF-8": _valid_with('"x"').replace(b'"x"', b'"\xff\xfe"'),
    "BOM before the document": b"\xef\xbb\xbf" + metadata(XBAU_SAMPLE, {}, XBAU),
}


@pytest.fixture
async def stage(api: httpx.AsyncClient) -> AsyncIterator[tuple[Validator, dict[str, str], dict[str, Any]]]:
    validator = attach_validator(api.app)  # type: ignore[attr-defined]
    auth = bearer(await token(api))
    yield validator, auth, await encryption_key(api, auth, ACTIVE)


def test_the_hostile_documents_differ_from_a_valid_one_only_where_intended() -> None:
    assert json.loads(metadata(XBAU_SAMPLE, {}, XBAU))["contentStructure"]
    assert HOSTILE["C3 duplicate keys"].count(b'"$schema"') == 2


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_metadata_is_a_syntax_violation(
    api: httpx.AsyncClient, stage: tuple[Validator, dict[str, str], dict[str, Any]], case: str
) -> None:
    validator, auth, key = stage
    ref = await send(api, auth, key, XBAU_SAMPLE, XBAU, meta=HOSTILE[case])
    started = time.perf_counter()
    outcome = await validator.process(ref["submissionId"])
    assert time.perf_counter() - started < 5
    assert outcome.status == "rejected"
    problems = await rejection(api, auth, ref)
    assert slugs(problems) == [("syntax-violation", "metadata")]
    assert len(problems[0]["detail"]) < 2_000  # no echo of the document
    healthy = await send(api, auth, key, XBAU_SAMPLE, XBAU)
    assert (await validator.process(healthy["submissionId"])).status == "validated"


@pytest.mark.parametrize(
    "case", ["C1 deep nesting (100000 arrays)", "C3 duplicate keys", "C5 NUL in a string"]
)
async def test_the_dry_run_reports_hostile_metadata_alike(
    api: httpx.AsyncClient, stage: tuple[Validator, dict[str, str], dict[str, Any]], case: str
) -> None:
    _, auth, key = stage
    body = {
        "destinationId": ACTIVE,
        "serviceType": {"identifier": LEIKA},
        "encryptedMetadata": encrypt(key, HOSTILE[case], cty="application/json"),
        "encryptedData": encrypt(key, XBAU_SAMPLE),
    }
    before = await counts(api)
    response = await api.post("/v1/validate", json=body, headers=auth)
    assert response.status_code == 200, response.text
    assert slugs(response.json()["problems"]) == [("syntax-violation", "metadata")]
    assert await counts(api) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"destinationId": "A", "destinationId": "B"}',
        b'{"destinationId": NaN}',
        b'{"destinationId": 1' + b"0" * 5_000 + b"}",
        b'{"destinationId": "\\u0000"}',
    ],
    ids=["C1", "C3", "C4", "C2", "C5"],
)
async def test_a_hostile_dry_run_body_is_refused_before_decryption(
    api: httpx.AsyncClient, stage: tuple[Validator, dict[str, str], dict[str, Any]], raw: bytes
) -> None:
    _, auth, _ = stage
    response = await api.post(
        "/v1/validate", content=raw, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:xoev-gateway:problem:request-body-invalid"
