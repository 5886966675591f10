"""Shared fixtures: keys generated once per run, a gateway per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from gateway.store.db import open_database

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


def _postgres_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def _create_postgres_database(name: str, template: str | None = None) -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
            )
    finally:
        await admin.dispose()


async def _drop_postgres_database(name: str) -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` to the end on a loop of its own (a test's loop may be running here)."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, coroutine).result()


async def _migrate(url: str) -> None:
    engine, _ = await open_database(url)
    await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest revision, made once per run and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "gateway.db"
    _run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database at the newest revision, made once per run: each test's database is
    created from it (``CREATE DATABASE … TEMPLATE``) instead of running the migrations again."""
    name = f"xgwt_template_{uuid.uuid4().hex[:12]}"
    try:
        _run(_create_postgres_database(name))
    except OSError as exc:
        _service_unavailable("PostgreSQL", exc)
    try:
        _run(_migrate(_postgres_url(name)))
        yield name
    finally:
        _run(_drop_postgres_database(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database per test, a SQLite file or a new PostgreSQL database, already at the newest
    revision; empty (no tables) for a test marked ``blank_database``."""
    blank = request.node.get_closest_marker("blank_database") is not None
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        if not blank:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = None if blank else request.getfixturevalue("postgres_template")
    name = f"xgwt_{uuid.uuid4().hex[:16]}"
    try:
        await _create_postgres_database(name, template)
    except OSError as exc:
        _service_unavailable("PostgreSQL", exc)
    try:
        yield _postgres_url(name)
    finally:
        await _drop_postgres_database(name)


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
