"""Cases D1-D10 (SECURITY-CASES.md, "D. HTTP layer") that the front-door and intake tests do not
already cover: an honest oversized length answered before the body is sent (D1), lying lengths
on a real socket (D3), hostile path ids against a sandboxed data directory (D6), hostile file
names in the metadata (D7), every non-JOSE media type and no form parsing anywhere (D8), and
method confusion (D10). Each refusal stores nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from gateway.stages.validate import Validator
from tests.conftest import ACTIVE, XBAU
from tests.helpers import bearer, counts, create, encrypt, encryption_key, gateway_of, new_id, token, upload
from tests.integration.validator.support import PDF, XBAU_SAMPLE, attach_validator, metadata, send_tokens
from tests.security.conftest import LiveGateway

pytestmark = pytest.mark.timeout(60)

OWN = "urn:xoev-gateway:problem:"


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(api))


def _status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


async def _read_all(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, within: float) -> bytes:
    """What the server sends until it closes (within ``within`` s); a reset reads as b""."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def _live_upload(live: LiveGateway) -> tuple[str, str, dict[str, str]]:
    """(submission id, announced attachment id, auth header) on the live gateway."""
    auth = bearer(await token(live.client))
    aid = new_id()
    created = await create(live.client, auth, ACTIVE, [aid])
    assert created.status_code == 201, created.text
    return created.json()["submissionId"], aid, auth


def _head(method: str, path: str, auth: dict[str, str], *lines: str) -> bytes:
    return (
        "\r\n".join(
            [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *[f"{k}: {v}" for k, v in auth.items()], *lines]
        )
        + "\r\n\r\n"
    ).encode()


# --- D1: an honest Content-Length over the cap is refused before the body is sent ------------------


async def test_d1_an_honest_oversized_length_gets_413_before_any_body_byte(live: LiveGateway) -> None:
    sid, aid, auth = await _live_upload(live)
    before = await counts(live.client)
    reader, writer = await live.open()
    path = f"/v1/submissions/{sid}/attachments/{aid}"
    writer.write(_head("PUT", path, auth, "Content-Type: application/jose", "Content-Length: 600000000"))
    status_line = await asyncio.wait_for(reader.readline(), 1.0)  # no body byte was sent
    writer.close()
    assert _status_of(status_line) == 413
    assert await counts(live.client) == before


# --- D3: lying lengths end in 400, 408 or a closed connection, never in a stored part --------------


async def test_d3_a_length_larger_than_the_body_is_cut_and_stores_nothing(live: LiveGateway) -> None:
    sid, aid, auth = await _live_upload(live)
    key = await encryption_key(live.client, auth, ACTIVE)
    body = encrypt(key, b"%PDF-1.4").encode()
    before = await counts(live.client)
    reader, writer = await live.open()
    path = f"/v1/submissions/{sid}/attachments/{aid}"
    writer.write(
        _head("PUT", path, auth, "Content-Type: application/jose", f"Content-Length: {len(body) * 4}")
    )
    writer.write(body)
    answer = await _read_all(reader, writer, within=10)
    assert answer == b"" or _status_of(answer) in {400, 408}, answer[:200]
    assert await counts(live.client) == before


async def test_d3_a_length_smaller_than_the_body_submits_nothing_whole(live: LiveGateway) -> None:
    sid, aid, auth = await _live_upload(live)
    key = await encryption_key(live.client, auth, ACTIVE)
    body = encrypt(key, b"%PDF-1.4").encode()
    before = await counts(live.client)
    reader, writer = await live.open()
    path = f"/v1/submissions/{sid}/attachments/{aid}"
    writer.write(
        _head("PUT", path, auth, "Content-Type: application/jose", f"Content-Length: {len(body) // 2}") + body
    )
    answer = await _read_all(reader, writer, within=10)
    # the parser refuses the surplus as a request; the truncated upload never completes
    assert answer == b"" or _status_of(answer) == 400, answer[:200]
    assert await counts(live.client) == before


async def test_d3_length_and_chunked_together_are_refused(live: LiveGateway) -> None:
    sid, aid, auth = await _live_upload(live)
    before = await counts(live.client)
    reader, writer = await live.open()
    path = f"/v1/submissions/{sid}/attachments/{aid}"
    writer.write(
        _head(
            "PUT",
            path,
            auth,
            "Content-Type: application/jose",
            "Content-Length: 5",
            "Transfer-Encoding: chunked",
        )
        + b"5\r\na.b.c\r\n0\r\n\r\n"
    )
    answer = await _read_all(reader, writer, within=10)
    assert answer == b"" or _status_of(answer) == 400, answer[:200]
    assert await counts(live.client) == before


# --- D6: path ids are UUIDs; nothing is created anywhere, in or outside the data directory --------

HOSTILE_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f",
    "..%5C..%5Cwindows",
    "%2Fetc%2Fpasswd",
    "a%00b",
    "%c0%ae%c0%ae%2F",
    "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01%0A",
    "4B2B7C2E-9F57-4D1A-9A3C-1F0E5D8C7A01x",
]


def _tree(root: Path) -> set[str]:
    """Every file and directory below ``root`` (SQLite's journal files come and go)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if not re.search(r"\.db-(journal|wal|shm)$", name):
                found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_d6_a_hostile_path_id_is_404_and_writes_no_file(
    api: httpx.AsyncClient, auth: dict[str, str], settings: Any, hostile: str
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    sid = (await create(api, auth, ACTIVE, [new_id()])).json()["submissionId"]
    sandbox = Path(settings.data_dir).parent  # the test's tmp_path: data, keys and database
    tree, before = _tree(sandbox), await counts(api)
    jose = {**auth, "Content-Type": "application/jose"}
    for path in (
        f"/v1/submissions/{sid}/attachments/{hostile}",
        f"/v1/submissions/{hostile}/attachments/{new_id()}",
    ):
        response = await api.put(path, content=encrypt(key, b"x"), headers=jose)
        assert response.status_code in {404, 422}, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    submit = await api.put(
        f"/v1/submissions/{hostile}", json={"encryptedMetadata": "a.b.c.d.e"}, headers=auth
    )
    events = await api.get(f"/v1/cases/{hostile}/events", headers=auth)
    assert {submit.status_code, events.status_code} <= {404, 422}
    assert _tree(sandbox) == tree and await counts(api) == before
    assert not any("passwd" in name or "windows" in name for name in _tree(sandbox))


# --- D7: hostile file names are opaque metadata; blobs are named by the gateway -------------------

HOSTILE_NAMES = ["../../x.xml", "CON", "a\u202egpj.exe", "n" * 10_000, "/etc/passwd", "..\\..\\boot.ini"]


async def test_d7_hostile_file_names_are_opaque_metadata_and_never_a_storage_path(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    validator: Validator = attach_validator(api.app)  # type: ignore[attr-defined]
    key = await encryption_key(api, auth, ACTIVE)
    attachments = {new_id(): PDF for _ in HOSTILE_NAMES}
    doc = metadata(XBAU_SAMPLE, attachments, XBAU)
    meta: dict[str, Any] = json.loads(doc)
    for entry, name in zip(meta["contentStructure"]["attachments"], HOSTILE_NAMES, strict=True):
        entry["filename"] = name
    ref = await send_tokens(
        api,
        auth,
        metadata_token=encrypt(key, json.dumps(meta).encode(), cty="application/json"),
        data_token=encrypt(key, XBAU_SAMPLE),
        attachments={aid: encrypt(key, body, cty="application/pdf") for aid, body in attachments.items()},
    )
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status in {"validated", "rejected"}  # a decision, never a crash
    root = gateway_of(api).blobs.root
    stored = [p for p in root.rglob("*") if p.is_file()]
    assert len(stored) == len(attachments) + 2
    for path in stored:
        assert re.fullmatch(r"[0-9a-f]{32}", path.name), path
        assert path.parent.parent == root and path.parent.name == path.name[:2]


# --- D8: only application/jose (and JSON bodies where JSON is documented); no form parser ---------


@pytest.fixture
def no_form_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(self: Request, *args: object, **kwargs: object) -> None:
        raise AssertionError("Request.form must never be called")

    monkeypatch.setattr(Request, "form", refuse)


@pytest.mark.usefixtures("no_form_parsing")
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/jose+json",
    ],
)
async def test_d8_an_upload_that_is_not_application_jose_is_415(
    api: httpx.AsyncClient, auth: dict[str, str], content_type: str | None
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    sid = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]
    before = await counts(api)
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    response = await api.put(
        f"/v1/submissions/{sid}/attachments/{aid}", content=encrypt(key, b"x").encode(), headers=headers
    )
    assert response.status_code == 415, response.text
    assert response.json()["type"] == OWN + "unsupported-media-type"
    assert await counts(api) == before


@pytest.mark.usefixtures("no_form_parsing")
@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data; boundary=x"])
async def test_d8_json_routes_refuse_other_media_types_without_parsing_forms(
    api: httpx.AsyncClient, auth: dict[str, str], content_type: str | None
) -> None:
    before = await counts(api)
    body = b'{"destinationId": "%s"}' % ACTIVE.encode()
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    assert (await api.post("/v1/submissions", content=body, headers=headers)).status_code == 415
    assert await counts(api) == before
    ok = await api.post(
        "/token",
        content=b"grant_type=client_credentials&client_id=portal&client_secret=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ok.status_code == 401  # the token form is read by the gateway's own bounded parser


# --- D10: methods that are not the route's are 405; an override header is ignored ------------------


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "HEAD", "PATCH", "DELETE"])
async def test_d10_other_methods_on_submission_routes_are_405_without_effect(
    api: httpx.AsyncClient, auth: dict[str, str], method: str
) -> None:
    aid = new_id()
    sid = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]
    before = await counts(api)
    for path in ("/v1/submissions", f"/v1/submissions/{sid}", f"/v1/submissions/{sid}/attachments/{aid}"):
        response = await api.request(method, path, headers=auth)
        assert response.status_code == 405, (method, path, response.status_code)
    assert await counts(api) == before


async def test_d10_a_method_override_header_is_ignored(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    sid = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]
    override = {**auth, "X-HTTP-Method-Override": "DELETE", "X-Method-Override": "DELETE"}
    uploaded = await upload(api, override, sid, aid, encrypt(key, PDF))
    assert uploaded.status_code == 204  # a PUT stays a PUT
    created = await create(api, override, ACTIVE)
    assert created.status_code == 201
    assert (await counts(api))["submissions"] == 2
