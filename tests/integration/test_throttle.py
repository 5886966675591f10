"""Concurrency limits (503) and rate limits (429), each with Retry-After; others are unaffected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from gateway.api.throttle import Buckets
from gateway.app import create_app
from gateway.config.settings import HttpSettings, Settings
from tests.conftest import ACTIVE, OTHER, OTHER_SECRET, SECRET, make_settings, tenants
from tests.helpers import bearer, create, new_id, token

Api = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def limited(tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]) -> Api:
    """An in-process gateway whose ``http`` limits are the given ones."""

    def open_api(**limits: int) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = make_settings(
            tmp_path,
            key_template,
            f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            tenants(),
            [
                {"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]},
                {"id": "other-portal", "secret_hash": secret_hashes[OTHER_SECRET], "destinations": [OTHER]},
            ],
        ).model_copy(update={"http": HttpSettings.model_validate(limits)})
        return _serving(settings)

    return open_api


@asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


def test_buckets_refill_evenly_and_forget_the_oldest() -> None:
    buckets = Buckets(per_minute=2)
    assert buckets.take("a", 0.0) == 0 and buckets.take("a", 0.0) == 0
    assert buckets.take("a", 0.0) == pytest.approx(30.0)  # one token per 30 s
    assert buckets.take("a", 29.0) == pytest.approx(1.0)
    assert buckets.take("a", 30.0) == 0
    assert buckets.take("b", 30.0) == 0  # other keys have their own bucket


async def test_concurrency_per_client_answers_503_and_spares_other_clients(limited: Api) -> None:
    async with limited(max_concurrent_per_client=2) as api:
        auth = bearer(await token(api))
        release = asyncio.Event()

        async def hanging_body() -> AsyncIterator[bytes]:
            yield b"eyJhbGciOi"
            await release.wait()

        held = []
        for _ in range(2):
            attachment = new_id()
            sid = (await create(api, auth, ACTIVE, attachments=[attachment])).json()["submissionId"]
            held.append(
                asyncio.create_task(
                    api.put(
                        f"/v1/submissions/{sid}/attachments/{attachment}",
                        content=hanging_body(),
                        headers={**auth, "Content-Type": "application/jose"},
                    )
                )
            )
        await asyncio.sleep(0.2)  # both uploads are in flight
        busy = await api.get(f"/v1/destinations/{ACTIVE}", headers=auth)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["type"] == "urn:xoev-gateway:problem:service-busy"
        other = bearer(await token(api, "other-portal", OTHER_SECRET))
        assert (await api.get(f"/v1/destinations/{OTHER}", headers=other)).status_code == 200
        release.set()
        await asyncio.gather(*held)
        assert (await api.get(f"/v1/destinations/{ACTIVE}", headers=auth)).status_code == 200


async def test_token_requests_per_address_answer_429_with_retry_after(limited: Api) -> None:
    async with limited(token_requests_per_minute=3) as api:
        for _ in range(3):
            await token(api)
        refused = await api.post(
            "/token",
            data={"grant_type": "client_credentials", "client_id": "portal", "client_secret": SECRET},
        )
        assert (
            refused.status_code == 429
            and refused.json()["type"] == "urn:xoev-gateway:problem:too-many-requests"
        )
        assert 1 <= int(refused.headers["Retry-After"]) <= 20


async def test_failed_authentications_lock_out_credentials_from_that_address(limited: Api) -> None:
    async with limited(failed_auth_per_minute=3) as api:
        good = bearer(await token(api))
        wrong = {"grant_type": "client_credentials", "client_id": "portal", "client_secret": "guess"}
        assert [(await api.post("/token", data=wrong)).status_code for _ in range(3)] == [401, 401, 401]
        right = {**wrong, "client_secret": SECRET}
        locked = await api.post("/token", data=right)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 20
        assert (await api.get(f"/v1/destinations/{ACTIVE}", headers=good)).status_code == 429
        assert (await api.get("/health")).status_code == 200  # no credentials: not refused
