"""A client that goes away mid-body is one info line: no traceback, no 500, no partial blob."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests.conftest import ACTIVE
from tests.helpers import bearer, counts, create, gateway_of, new_id, token


async def _gone_mid_body(
    app: Any, method: str, path: str, headers: dict[str, str], first: bytes
) -> list[dict[str, Any]]:
    """Send the head and ``first`` bytes of a larger body, then disconnect; what was sent back."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway.test", 80),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": first, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("where", ["token form", "attachment upload"])
async def test_disconnect_mid_body_is_one_info_line(api: httpx.AsyncClient, where: str) -> None:
    app = api.app  # type: ignore[attr-defined]
    if where == "token form":
        method, path = "POST", "/token"
        headers = {"content-type": "application/x-www-form-urlencoded", "content-length": "1000"}
    else:
        auth = bearer(await token(api))
        attachment = new_id()
        created = (await create(api, auth, ACTIVE, attachments=[attachment])).json()
        method, path = "PUT", f"/v1/submissions/{created['submissionId']}/attachments/{attachment}"
        headers = {**auth, "content-type": "application/jose", "content-length": "100000"}
    before = await counts(api)
    with capture_logs() as logs:
        await _gone_mid_body(app, method, path, headers, b"eyJhbGciOiJSU0EtT0FFUC0yNTYi")
    assert [e for e in logs if e["log_level"] in ("error", "critical", "exception")] == []
    gone = [e for e in logs if e["event"] == "client_disconnected"]
    assert len(gone) == 1 and gone[0]["log_level"] == "info" and gone[0]["path"] == path
    assert await counts(api) == before
    assert not list(gateway_of(api).blobs.root.rglob("*.part"))
