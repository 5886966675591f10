"""Shared fixtures: keys generated once per run, a gateway per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret

PG_ADMIN_URL = os.environ.get("XGW_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"

ACTIVE = "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01"
INACTIVE = "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a02"
OTHER = "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a03"
LEIKA = "urn:de:fim:leika:leistung:99066006001000"
XBAU = "urn:xoev-de:bmk:standard:xbau_2.6"
SECRET = "s3cr3t-for-tests-only-0123456789abcdef"
OTHER_SECRET = "another-s3cr3t-for-tests-0123456789"


FAULTS = Path(__file__).parent / "faults"
#: Fault scenarios that stop or restart the shared RabbitMQ node, as (file, test function); the
#: tests outside tests/faults carry the ``destructive`` mark themselves.
DESTRUCTIVE_FAULTS = {(FAULTS / "test_loss_and_duplicates.py", "test_broker_stop_app_mid_run")}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault suite is ``slow``; its scenarios that stop the broker are ``destructive``."""
    for item in items:
        if not item.path.is_relative_to(FAULTS):
            continue
        item.add_marker(pytest.mark.slow)
        name = item.originalname if isinstance(item, pytest.Function) else item.name
        if (item.path, name) in DESTRUCTIVE_FAULTS:
            item.add_marker(pytest.mark.destructive)


def service(regions: list[str]) -> dict[str, Any]:
    return {
        "identifier": LEIKA,
        "name": "Baugenehmigung",
        "regions": regions,
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
    }


def tenants() -> list[dict[str, Any]]:
    return [
        {
            "id": "musterstadt",
            "name": "Musterstadt",
            "destinations": [
                {"id": ACTIVE, "name": "Bauamt", "status": "active", "services": [service(["064350014014"])]},
                {
                    "id": INACTIVE,
                    "name": "Altes Bauamt",
                    "status": "inactive",
                    "services": [service(["064350014014"])],
                },
            ],
        },
        {
            "id": "beispieldorf",
            "destinations": [{"id": OTHER, "status": "active", "services": [service(["091620000000"])]}],
        },
    ]


@pytest.fixture(scope="session")
def key_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RSA-4096 keys for every test destination and the gateway, generated once per run."""
    root = tmp_path_factory.mktemp("keys")
    store = KeyStore(root)
    for owner in (ACTIVE, INACTIVE, OTHER):
        store.generate(owner, "encryption")
        store.generate(owner, "signing")
    store.generate("gateway", "signing")
    return root


@pytest.fixture(scope="session")
def secret_hashes() -> dict[str, str]:
    return {SECRET: hash_secret(SECRET), OTHER_SECRET: hash_secret(OTHER_SECRET)}


def _service_unavailable(what: str, exc: BaseException) -> None:
    if IN_CI:
        pytest.fail(f"{what} is not reachable in CI: {exc}")
    pytest.skip(f"{what} not reachable: {exc}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database per test: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    name = f"xgwt_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        await admin.dispose()
        _service_unavailable("PostgreSQL", exc)
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def make_settings(
    tmp_path: Path,
    key_template: Path,
    database_url: str,
    tenants: list[dict[str, Any]],
    clients: list[dict[str, Any]],
) -> Settings:
    """Settings for an in-process gateway in ``tmp_path`` with a copy of the session's keys; the
    stages do not run (tests drive them) unless a test turns them on."""
    key_dir = tmp_path / "keys"
    shutil.copytree(key_template, key_dir)
    return Settings.load(
        None,
        base_url="http://gateway.test",
        data_dir=tmp_path / "data",
        key_dir=key_dir,
        database_url=database_url,
        run_stages=False,
        tenants=tenants,
        clients=clients,
    )


@pytest.fixture
def settings(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], database_url: str
) -> Settings:
    return make_settings(
        tmp_path,
        key_template,
        database_url,
        tenants(),
        [
            {"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]},
            {"id": "other-portal", "secret_hash": secret_hashes[OTHER_SECRET], "destinations": [OTHER]},
        ],
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's HTTP app in process (lifespan run), addressed by an httpx client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
