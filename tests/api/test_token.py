"""``POST /token`` takes the client's credentials from the form or, as RFC 6749 requires, from HTTP
Basic (what Swagger UI's *Authorize* sends for the client credentials flow)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import httpx

from tests.conftest import SECRET

GRANT = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


async def test_http_basic_credentials_get_a_token(api: httpx.AsyncClient) -> None:
    response = await api.post("/token", data=GRANT, headers=basic("portal", SECRET))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    destination = await api.get(
        "/v1/destinations/4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01", headers={"Authorization": f"Bearer {token}"}
    )
    assert destination.status_code == 200


async def test_wrong_or_malformed_basic_credentials_are_an_invalid_client(api: httpx.AsyncClient) -> None:
    for headers in (basic("portal", "wrong"), {"Authorization": "Basic not-base64!"}):
        response = await api.post("/token", data=GRANT, headers=headers)
        assert response.status_code == 401
        assert response.json()["type"] == "urn:xoev-gateway:problem:invalid-client"


async def test_form_credentials_take_precedence_over_basic(api: httpx.AsyncClient) -> None:
    form = {**GRANT, "client_id": "portal", "client_secret": SECRET}
    response = await api.post("/token", data=form, headers=basic("portal", "wrong"))
    assert response.status_code == 200, response.text
