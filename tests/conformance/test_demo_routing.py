"""The Routing API of a live ``xgw serve`` finds the demo destination by LeiKa key and ARS, and
its ``destinationSignature`` verifies with the gateway's JWKS, as a sender checks it before
submitting (PROTOCOL.md §8)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from gateway.config.embedded import JSON_SERVICE, REGION, SERVICE
from gateway.crypto.jws import public_key_from_jwk, verify_ps512
from tests.conformance.conftest import LiveGateway

RS = "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:"


@pytest.mark.parametrize("service", [SERVICE, JSON_SERVICE])
def test_routes_find_the_demo_destination_and_its_signature_verifies(
    live_gateway: LiveGateway, service: str
) -> None:
    leika_key = service.rsplit(":", 1)[1]
    response = httpx.get(
        f"{live_gateway.base_url}/v1/routes",
        params={"leikaKey": leika_key, "ars": REGION},
        headers={"User-Agent": "routing-check/1"},
    )
    assert response.status_code == 200, response.text
    [route] = response.json()["routes"]
    assert route["destinationId"] == live_gateway.destination_id

    token = route["destinationSignature"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "jwt" and header["alg"] == "PS512"
    jwks = httpx.get(f"{live_gateway.base_url}/.well-known/jwks.json").json()
    key = public_key_from_jwk(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    _, claims = verify_ps512(token, key)
    assert claims["destinationId"] == live_gateway.destination_id
    assert claims["submissionHost"] == live_gateway.base_url.removeprefix("http://")
    assert any(service in s["leistungIDs"] and RS + REGION in s["gebietIDs"] for s in claims["services"]), (
        claims["services"]
    )
