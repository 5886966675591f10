"""Infrastructure failures at intake: a full blob disk answers 507, an unreachable, reset or locked
database 503, both with ``Retry-After``, never 500; nothing half-written stays behind. A submit
repeated after a lost answer gets the first answer."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.store import blobs as blob_module
from gateway.store.lifecycle import transition
from gateway.store.models import Event, Submission
from gateway.store.retention import referenced_blobs
from tests.conftest import ACTIVE, SECRET
from tests.helpers import bearer, counts, create, encrypt, encryption_key, gateway_of, new_id, token, upload

OWN = "urn:xoev-gateway:problem:"
XML = b"<?xml version='1.0' encoding='UTF-8'?><antrag/>"


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(api))


def assert_retry_later(response: httpx.Response, status: int, slug: str, retry_after: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == OWN + slug
    assert response.headers["retry-after"] == retry_after


async def _created(api: httpx.AsyncClient, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A created submission with its attachment uploaded, and the body that submits it."""
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    sid = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]
    assert (await upload(api, auth, sid, aid, encrypt(key, b"%PDF-1.4"))).status_code == 204
    return sid, {"encryptedMetadata": encrypt(key, b"{}"), "encryptedData": encrypt(key, XML)}


async def _status(api: httpx.AsyncClient, sid: str) -> str:
    async with gateway_of(api).sessions() as session:
        return str(await session.scalar(select(Submission.status).where(Submission.id == sid)))


def _disk_full_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> None:
    """The blob disk takes ``writes`` more writes, then reports ENOSPC."""
    real = blob_module._write_all
    left = [writes]

    def write_all(fd: int, data: bytes) -> None:
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= 1
        real(fd, data)

    monkeypatch.setattr(blob_module, "_write_all", write_all)


async def test_full_disk_during_upload_answers_507_and_keeps_no_partial_blob(
    api: httpx.AsyncClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    sid = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]
    before = await counts(api)
    _disk_full_after(monkeypatch, 0)
    response = await upload(api, auth, sid, aid, encrypt(key, b"%PDF-1.4"))
    assert_retry_later(response, 507, "storage-full", "60")
    assert await counts(api) == before  # counts every file, .part included


async def test_full_disk_at_the_data_blob_leaves_no_metadata_blob_and_a_retry_succeeds(
    api: httpx.AsyncClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, body = await _created(api, auth)
    before = await counts(api)
    _disk_full_after(monkeypatch, 1)  # the metadata blob is written, the data blob is not
    response = await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)
    assert_retry_later(response, 507, "storage-full", "60")
    assert await counts(api) == before and await _status(api, sid) == "created"
    monkeypatch.undo()
    assert (await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)).status_code == 200


@asynccontextmanager
async def _database_unreachable(api: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[None]:
    """Every session of the API (token, intake) goes to a database that cannot be reached."""
    app = api.app  # type: ignore[attr-defined]
    gateway = gateway_of(api)
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'gateway.db'}"
        if gateway.engine.dialect.name == "sqlite"
        else "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"
    )
    engine = create_async_engine(url)
    broken = async_sessionmaker(engine, expire_on_commit=False)
    services, sessions = app.state.services, gateway.intake.sessions
    app.state.services = dataclasses.replace(services, sessions=broken)
    gateway.intake.sessions = broken
    try:
        yield
    finally:
        app.state.services, gateway.intake.sessions = services, sessions
        await engine.dispose()


async def test_unreachable_database_answers_503_with_retry_after_then_recovers(
    api: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path
) -> None:
    async with _database_unreachable(api, tmp_path):
        assert_retry_later(
            await api.post(
                "/token",
                data={"grant_type": "client_credentials", "client_id": "portal", "client_secret": SECRET},
            ),
            503,
            "service-unavailable",
            "5",
        )
        assert_retry_later(await create(api, auth, ACTIVE), 503, "service-unavailable", "5")
    assert (await create(api, auth, ACTIVE)).status_code == 201


@contextmanager
def _sqlite_write_lock(database: str) -> Iterator[None]:
    """Another process holds SQLite's write lock."""
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.close()


async def test_database_lost_mid_submit_answers_503_and_stores_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the server ends the connection; SQLite: the write lock stays taken past the
    busy timeout ("database is locked"). Either way before the commit, so the blobs go at once."""
    sid, body = await _created(api, auth)
    before = await counts(api)
    gateway = gateway_of(api)

    async def lost(session: AsyncSession, *args: Any, **kwargs: Any) -> bool:
        if gateway.engine.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return await transition(session, *args, **kwargs)
        await session.execute(text("PRAGMA busy_timeout = 50"))
        with _sqlite_write_lock(str(gateway.engine.url.database)):
            return await transition(session, *args, **kwargs)

    monkeypatch.setattr("gateway.stages.intake.service.transition", lost)
    response = await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)
    assert_retry_later(response, 503, "service-unavailable", "5")
    assert await counts(api) == before and await _status(api, sid) == "created"
    monkeypatch.undo()
    assert (await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)).status_code == 200


async def test_commit_lost_leaves_the_blobs_to_the_sweep_which_removes_them(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A failed COMMIT has an unknown outcome: the blobs stay until the sweep finds no row for them."""
    sid, body = await _created(api, auth)
    before = await counts(api)

    engine = gateway_of(api).engine.sync_engine

    def commit(connection: Any) -> None:
        raise DBAPIError("COMMIT", {}, ConnectionResetError("reset by peer"), connection_invalidated=True)

    event.listen(engine, "commit", commit)
    response = await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)
    event.remove(engine, "commit", commit)
    assert_retry_later(response, 503, "service-unavailable", "5")
    assert await _status(api, sid) == "created"
    assert (await counts(api))["blobs"] == before["blobs"] + 2
    gateway = gateway_of(api)

    async def referenced() -> frozenset[str]:
        return await referenced_blobs(gateway.sessions)

    swept = await gateway.blobs.sweep(referenced, older_than=float("inf"))
    assert (swept.parts, swept.orphans) == (0, 2)
    assert await counts(api) == before


async def test_concurrent_identical_submits_both_answer_200_with_one_submit_event(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    sid, body = await _created(api, auth)
    first, second = await asyncio.gather(
        *(api.put(f"/v1/submissions/{sid}", json=body, headers=auth) for _ in range(2))
    )
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    async with gateway_of(api).sessions() as session:
        events = list(await session.scalars(select(Event.event).where(Event.submission_id == sid)))
    assert events.count("submit-submission") == 1
    assert (await counts(api))["blobs"] == 3  # the attachment, metadata and data once


async def test_another_client_repeating_a_submit_finds_no_submission(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    sid, body = await _created(api, auth)
    assert (await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)).status_code == 200
    other = bearer(await token(api, "other-portal", "another-s3cr3t-for-tests-0123456789"))
    response = await api.put(f"/v1/submissions/{sid}", json=body, headers=other)
    assert response.status_code == 404
