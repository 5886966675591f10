"""The Routing API over the configured destinations: matches by LeiKa key and area, paging,
query errors as 400 problems, and addressing information verifiable with the gateway's JWKS."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from gateway.api.addressing import canonical_json
from gateway.crypto.jws import public_key_from_jwk, verify_ps512
from tests.conftest import ACTIVE, OTHER, XBAU

LEIKA_KEY = "99066006001000"
RS = "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:"


async def routes(api: httpx.AsyncClient, **query: str) -> httpx.Response:
    return await api.get("/v1/routes", params={"leikaKey": LEIKA_KEY, **query})


def gateway_key(jwks: dict[str, Any], kid: str) -> Any:
    return public_key_from_jwk(next(k for k in jwks["keys"] if k["kid"] == kid))


@pytest.mark.parametrize("area", [{"ars": "064350014014"}, {"ags": "06435014"}, {"areaId": "064350014014"}])
async def test_routes_find_the_active_destination_by_leika_key_and_area(
    api: httpx.AsyncClient, area: dict[str, str]
) -> None:
    response = await routes(api, **area)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["count"], body["offset"], body["totalCount"]) == (1, 0, 1)
    [route] = body["routes"]
    assert route["destinationId"] == ACTIVE and route["destinationName"] == "Bauamt"  # not the inactive one
    parameters = route["destinationParameters"]
    assert parameters["submissionSchemas"] == [{"schemaUri": XBAU, "mimeType": "application/xml"}]
    assert parameters["submissionUrl"] == "http://gateway.test" and parameters["status"] == "active"
    assert parameters["publicKeys"]["keys"][0]["kid"] == parameters["encryptionKid"]


async def test_destination_signature_verifies_with_the_gateway_jwks(api: httpx.AsyncClient) -> None:
    [route] = (await routes(api, ars="064350014014")).json()["routes"]
    jwks = (await api.get("/.well-known/jwks.json")).json()
    token = route["destinationSignature"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "jwt" and header["alg"] == "PS512"
    _, claims = verify_ps512(token, gateway_key(jwks, header["kid"]))
    assert claims["destinationId"] == ACTIVE and claims["iss"] == "http://gateway.test"
    assert claims["submissionHost"] == "gateway.test"
    assert claims["services"] == [
        {"gebietIDs": [RS + "064350014014"], "leistungIDs": ["urn:de:fim:leika:leistung:" + LEIKA_KEY]}
    ]
    assert claims["jti"] and claims["iat"] > 0

    protected, empty, signature = route["destinationParametersSignature"].split(".")
    assert empty == ""
    payload = base64.urlsafe_b64encode(canonical_json(route["destinationParameters"])).rstrip(b"=").decode()
    verify_ps512(f"{protected}.{payload}.{signature}", gateway_key(jwks, header["kid"]))


async def test_a_larger_area_than_the_service_region_and_other_services_find_nothing(
    api: httpx.AsyncClient,
) -> None:
    for query in ({"ars": "06435"}, {"ags": "09162001"}, {"ars": "091620000001"}):
        body = (await routes(api, **query)).json()
        assert body == {"count": 0, "offset": 0, "totalCount": 0, "routes": []}, query
    other = (await api.get("/v1/routes", params={"leikaKey": "99123456760610", "ars": "064350014014"})).json()
    assert other["routes"] == []
    for query in ({"ars": "091620000000"}, {"ags": "09162000"}):
        assert [r["destinationId"] for r in (await routes(api, **query)).json()["routes"]] == [OTHER], query


async def test_routes_page_with_offset_and_limit(api: httpx.AsyncClient) -> None:
    body = (await routes(api, ars="064350014014", offset="1", limit="1")).json()
    assert (body["count"], body["offset"], body["totalCount"], body["routes"]) == (0, 1, 1, [])


@pytest.mark.parametrize(
    "query",
    [
        {"ars": "064350014014"},  # no leikaKey
        {"leikaKey": "12345", "ars": "064350014014"},
        {"leikaKey": LEIKA_KEY},
        {"leikaKey": LEIKA_KEY, "ars": "064350014014", "ags": "06435014"},
        {"leikaKey": LEIKA_KEY, "ars": "0643"},
        {"leikaKey": LEIKA_KEY, "ars": "064350014014", "limit": "0"},
        {"leikaKey": LEIKA_KEY, "ars": "064350014014", "limit": "501"},
        {"leikaKey": LEIKA_KEY, "ars": "064350014014", "offset": "-1"},
    ],
)
async def test_bad_queries_are_400_problems(api: httpx.AsyncClient, query: dict[str, str]) -> None:
    response = await api.get("/v1/routes", params=query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:xoev-gateway:problem:query-invalid"


async def test_areas_search_the_configured_regions_by_key_and_name(api: httpx.AsyncClient) -> None:
    found = (await api.get("/v1/areas", params={"areaSearchexpression": "0643*"})).json()
    assert found["areas"] == [{"id": "064350014014", "name": "Musterstadt", "type": "Gemeinde"}]
    assert (found["count"], found["totalCount"], found["offset"]) == (1, 1, 0)
    terms = {"areaSearchexpression": ["muster", "06*"]}
    both = await api.get("/v1/areas", params=terms)
    assert [a["id"] for a in both.json()["areas"]] == ["064350014014"]
    assert (await api.get("/v1/areas", params={"areaSearchexpression": "Hanau"})).json()["areas"] == []
    assert (await api.get("/v1/areas")).status_code == 400
    assert (await api.get("/v1/areas", params={"areaSearchexpression": "*"})).status_code == 400
