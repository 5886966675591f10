"""Cases E1-E7 (SECURITY-CASES.md, "E. Authentication and authorization") beyond the intake tests:
tokens for another issuer or audience and forged algorithms are 401 before the body is read (E1,
E2), a foreign submission or case answers exactly like a random id on every route (E4),
server-set fields in a request are ignored (E5), callback MACs refuse truncation and replays
(E6), and guessing ids is throttled (E7)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.config.settings import HttpSettings
from gateway.crypto.b64 import b64url_encode
from gateway.crypto.jws import sign_hs256
from gateway.stages.callbacks.sender import sign_callback, verify_callback
from tests.conftest import ACTIVE, OTHER_SECRET, SECRET, make_settings, tenants
from tests.helpers import bearer, counts, create, encrypt, encryption_key, new_id, token, upload
from tests.integration.validator.support import status
from tests.security.test_xml_attacks import Listener

pytestmark = pytest.mark.timeout(60)

OWN = "urn:xoev-gateway:problem:"
AUDIENCE = "xoev-gateway:submission-api"


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(api))


@pytest.fixture
def listener() -> Iterator[Listener]:
    canary = Listener()
    yield canary
    canary.close()


def _claims(**override: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "http://gateway.test",
        "aud": AUDIENCE,
        "sub": "portal",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(override)
    return claims


def _unsigned(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    return ".".join(
        [
            b64url_encode(json.dumps(header).encode()),
            b64url_encode(json.dumps(claims).encode()),
            b64url_encode(signature),
        ]
    )


class Unread:
    """A request body that records whether the server read any of it."""

    def __init__(self) -> None:
        self.read = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.read = True
        yield b"a.b.c.d.e"


async def _refused_unread(api: httpx.AsyncClient, authorization: str) -> httpx.Response:
    """An attachment upload with ``authorization``: the answer, after checking no byte was read."""
    owner = bearer(await token(api))
    aid = new_id()
    sid = (await create(api, owner, ACTIVE, [aid])).json()["submissionId"]
    before = await counts(api)
    body = Unread()
    response = await api.put(
        f"/v1/submissions/{sid}/attachments/{aid}",
        content=body,
        headers={"Authorization": authorization, "Content-Type": "application/jose"},
    )
    assert not body.read, "the body was read before the token was checked"
    assert await counts(api) == before
    return response


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["type"] == OWN + "invalid-token"
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- E1: token failures are 401 with WWW-Authenticate before the body is read ----------------------


@pytest.mark.parametrize(
    "claims",
    [
        _claims(iss="https://another-issuer.example"),
        _claims(aud="another-api"),
        _claims(aud=[AUDIENCE, "another-api"]),
        _claims(sub=None),
        _claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        _claims(nbf=int(time.time()) + 3600),
    ],
    ids=["wrong-iss", "wrong-aud", "aud-list", "no-sub", "expired", "nbf-future"],
)
async def test_e1_a_token_for_another_issuer_audience_or_time_is_401_before_the_body(
    api: httpx.AsyncClient, claims: dict[str, object]
) -> None:
    secret = api.app.state.services.tokens.secret  # type: ignore[attr-defined]
    _assert_401(await _refused_unread(api, "Bearer " + sign_hs256(secret, {"typ": "at+jwt"}, claims)))


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Bearer x.y.z"])
async def test_e1_a_missing_or_broken_token_is_401_before_the_body(
    api: httpx.AsyncClient, authorization: str
) -> None:
    _assert_401(await _refused_unread(api, authorization))


# --- E2: algorithm confusion, foreign keys and remote key URLs are 401; nothing is fetched ----------


async def test_e2_algorithm_confusion_is_401_and_fetches_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], listener: Listener
) -> None:
    public = await encryption_key(api, auth, ACTIVE)
    jwks = (await api.get("/.well-known/jwks.json")).json()
    signing_kid = jwks["keys"][0]["kid"]
    jku = f"http://127.0.0.1:{listener.port}/jwks"
    forged = [
        _unsigned({"alg": "none", "typ": "at+jwt"}, _claims()),
        _unsigned({"alg": "None"}, _claims()),
        sign_hs256(json.dumps(public).encode(), {"typ": "at+jwt"}, _claims()),  # MACed with our public key
        sign_hs256(json.dumps(jwks["keys"][0]).encode(), {"typ": "at+jwt", "kid": signing_kid}, _claims()),
        sign_hs256(public["n"].encode(), {"typ": "at+jwt", "kid": public["kid"]}, _claims()),
        sign_hs256(b"attacker", {"typ": "at+jwt", "jku": jku, "kid": "attacker"}, _claims()),
        sign_hs256(b"attacker", {"typ": "at+jwt", "jwk": {"kty": "oct", "k": "YXR0YWNrZXI"}}, _claims()),
        _unsigned({"alg": "PS512", "kid": signing_kid}, _claims(), b"\0" * 512),
        _unsigned({"alg": "RS256", "jku": jku}, _claims(), b"\0" * 512),
    ]
    for candidate in forged:
        _assert_401(await _refused_unread(api, "Bearer " + candidate))
    assert listener.stays_quiet()


# --- E4: a foreign id answers byte for byte like a random one, on every route with an id ----------


async def test_e4_every_route_with_an_id_answers_a_foreign_id_like_a_random_one(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    own = (await create(api, auth, ACTIVE, [aid])).json()
    assert (await upload(api, auth, own["submissionId"], aid, encrypt(key, b"%PDF"))).status_code == 204
    other = bearer(await token(api, "other-portal", OTHER_SECRET))
    before = await counts(api)

    async def ask(sid: str, cid: str, att: str) -> list[tuple[int, bytes]]:
        jose = {**other, "Content-Type": "application/jose"}
        submit = {"encryptedMetadata": encrypt(key, b"{}"), "encryptedData": encrypt(key, b"<a/>")}
        answers = [
            await api.put(
                f"/v1/submissions/{sid}/attachments/{att}", content=encrypt(key, b"x"), headers=jose
            ),
            await api.put(f"/v1/submissions/{sid}", json=submit, headers=other),
            await api.get(f"/v1/cases/{cid}/events", headers=other),
            await api.get(f"/v2/submissions/{sid}/events", headers=other),
            await api.put(f"/v2/submissions/{sid}", json=submit, headers=other),
            await api.get(f"/v1/submissions/{sid}", headers=other),
            await api.delete(f"/v1/submissions/{sid}", headers=other),
            await api.delete(f"/v1/submissions/{sid}/attachments/{att}", headers=other),
        ]
        return [(r.status_code, r.content) for r in answers]

    foreign = await ask(own["submissionId"], own["caseId"], aid)
    random = await ask(new_id(), new_id(), new_id())
    assert foreign == random
    # GET /v1/submissions/{id} is the subscriber's route: a sender's token is refused there (401)
    # before any id is looked at
    assert [status for status, _ in foreign] == [404, 404, 404, 404, 404, 401, 405, 405]
    assert await counts(api) == before


# --- E5: fields the server sets are ignored in a request ------------------------------------------


async def test_e5_server_set_fields_in_a_request_are_ignored(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    planted = {
        "submissionId": new_id(),
        "caseId": new_id(),
        "status": "delivered",
        "tenantId": "beispieldorf",
        "clientId": "other-portal",
        "receivedAt": "1999-01-01T00:00:00Z",
    }
    created = await create(api, auth, ACTIVE, None, **planted)
    assert created.status_code == 201, created.text
    ref = created.json()
    assert ref["submissionId"] != planted["submissionId"] and ref["caseId"] != planted["caseId"]
    submit = {"encryptedMetadata": encrypt(key, b"{}"), "encryptedData": encrypt(key, b"<a/>"), **planted}
    submitted = await api.put(f"/v1/submissions/{ref['submissionId']}", json=submit, headers=auth)
    assert submitted.status_code == 200 and submitted.json() == ref
    assert await status(api, ref["submissionId"]) == "submitted"
    planted_lookup = await api.get(f"/v1/cases/{planted['caseId']}/events", headers=auth)
    assert planted_lookup.status_code == 404


# --- E6: a callback MAC is refused when old, future, changed, truncated or not hex ---------------


def test_e6_callback_macs_refuse_replay_forgery_and_truncation() -> None:
    secret = "callback-secret-for-tests-0123456789abcdef"
    body = b'{"type":"https://schema.fitko.de/fit-connect/events/new-events","submissions":[]}'
    now = 1_800_000_000
    mac = sign_callback(secret, now, body)
    assert len(mac) == 128  # hex HMAC-SHA512
    assert verify_callback(secret, str(now), body, mac, now=now)
    refused = [
        (str(now), body, mac, now + 6 * 60),  # replayed after 6 min
        (str(now + 6 * 60), body, sign_callback(secret, now + 6 * 60, body), now),  # 6 min ahead
        (str(now), body[:-1] + b" ", mac, now),  # one body byte changed
        (str(now), body, mac[:64], now),  # truncated
        (str(now), body, mac[:-1], now),
        (str(now), body, "", now),
        (str(now), body, mac + "00", now),
        (str(now), body, "zz" + mac[2:], now),
    ]
    for timestamp, payload, candidate, at in refused:
        assert not verify_callback(secret, timestamp, payload, candidate, now=at)


# --- E7: guessing ids is throttled per client ------------------------------------------------------


@pytest.fixture
async def guarded(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        tmp_path,
        key_template,
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        tenants(),
        [
            {"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]},
            {"id": "other-portal", "secret_hash": secret_hashes[OTHER_SECRET], "regions": ["06435"]},
        ],
    ).model_copy(update={"http": HttpSettings.model_validate({"not_found_per_minute": 20})})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def test_e7_guessing_ids_gets_429_after_the_threshold_and_spares_other_clients(
    guarded: httpx.AsyncClient,
) -> None:
    guesser = bearer(await token(guarded))
    statuses = []
    with capture_logs() as logs:
        for _ in range(40):
            statuses.append((await guarded.get(f"/v1/cases/{new_id()}/events", headers=guesser)).status_code)
    # a bucket of 20 refills by one token every 3 s, so a slow run may see one more 404
    assert statuses[:20] == [404] * 20 and 429 in statuses[20:22] and statuses.count(404) <= 22
    refused = await guarded.get(f"/v1/cases/{new_id()}/events", headers=guesser)
    assert refused.json()["type"] == OWN + "too-many-requests" and int(refused.headers["retry-after"]) >= 1
    assert any(e["event"] == "enumeration_suspected" and e["client"] == "client:portal" for e in logs)
    neighbour = bearer(await token(guarded, "other-portal", OTHER_SECRET))
    assert (await guarded.get(f"/v1/cases/{new_id()}/events", headers=neighbour)).status_code == 404
    assert (await create(guarded, neighbour, ACTIVE)).status_code == 201
