"""The blob sweep: retention deadlines delete a submission's ciphertext (never its event log),
``.part`` files and orphaned blobs go once older than the safety age, and the workers sweep at start."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import select, update

from gateway.app import open_gateway
from gateway.config.settings import RetentionSettings, Settings
from gateway.stages.sweep import Sweeper
from gateway.store.blobs import BlobStore
from gateway.store.models import Attachment, Submission
from gateway.store.pickups import Pickup, PickupStatus, step
from gateway.store.retention import referenced_blobs
from tests.conftest import ACTIVE
from tests.eventually import eventually
from tests.helpers import bearer, counts, create, encrypt, encryption_key, gateway_of, new_id, token, upload

XML = b"<?xml version='1.0' encoding='UTF-8'?><antrag/>"
HOUR = 3600.0


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(api))


async def _submission(api: httpx.AsyncClient, auth: dict[str, str], *, submit: bool = True) -> str:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    sid = str((await create(api, auth, ACTIVE, [aid])).json()["submissionId"])
    assert (await upload(api, auth, sid, aid, encrypt(key, b"%PDF-1.4"))).status_code == 204
    if submit:
        body = {"encryptedMetadata": encrypt(key, b"{}"), "encryptedData": encrypt(key, XML)}
        assert (await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)).status_code == 200
    return sid


async def _age(api: httpx.AsyncClient, sid: str, status: str, seconds: float) -> None:
    """Put the submission in ``status`` as if every step happened ``seconds`` ago."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    async with gateway_of(api).sessions.begin() as session:
        await session.execute(
            update(Submission)
            .where(Submission.id == sid)
            .values(status=status, created_at=then, submitted_at=then, updated_at=then)
        )


def _plant(blobs: BlobStore, *, part: bool, age: float) -> Path:
    name = uuid.uuid4().hex
    path = blobs.path(name)
    path.parent.mkdir(exist_ok=True)
    if part:
        path = path.with_name(f".{name}.part")
    path.write_bytes(b"eyJ")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


async def _blob_refs(api: httpx.AsyncClient, sid: str) -> tuple[Any, ...]:
    async with gateway_of(api).sessions() as session:
        row = await session.get(Submission, sid)
        assert row is not None
        attachments = list(
            await session.scalars(select(Attachment.blob).where(Attachment.submission_id == sid))
        )
        return row.metadata_blob, row.data_blob, attachments


async def test_part_files_and_orphans_are_swept_only_past_the_safety_age(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    gateway = gateway_of(api)
    sid = await _submission(api, auth)
    old_part, young_part = (
        _plant(gateway.blobs, part=True, age=2 * HOUR),
        _plant(gateway.blobs, part=True, age=60),
    )
    old_orphan, young_orphan = (
        _plant(gateway.blobs, part=False, age=2 * HOUR),
        _plant(gateway.blobs, part=False, age=60),
    )
    referenced = await referenced_blobs(gateway.sessions)
    for name in referenced:  # rows' blobs are old too, and kept
        os.utime(gateway.blobs.path(name), (time.time() - 2 * HOUR,) * 2)

    sweeper = Sweeper(gateway.sessions, gateway.blobs, RetentionSettings())
    with structlog.testing.capture_logs() as logs:
        result = await sweeper.run_once()

    assert (result.parts, result.orphans, result.deleted) == (1, 1, {})
    assert not old_part.exists() and not old_orphan.exists()
    assert young_part.exists() and young_orphan.exists()
    assert all(gateway.blobs.path(name).exists() for name in referenced) and len(referenced) == 3
    assert await _blob_refs(api, sid) != (None, None, [])
    assert [e for e in logs if e["event"] == "blobs_swept"] == [
        {"event": "blobs_swept", "log_level": "info", "parts": 1, "orphans": 1}
    ]


@pytest.mark.parametrize(
    ("status", "age", "rule"),
    [
        ("delivered", 7 * 86_400 + 60, "final"),
        ("rejected", 7 * 86_400 + 60, "final"),
        ("submitted", 21 * 86_400 + 60, "unfinished"),
        ("parked", 21 * 86_400 + 60, "unfinished"),
    ],
)
async def test_content_is_deleted_after_its_deadline_and_the_event_log_is_kept(
    api: httpx.AsyncClient, auth: dict[str, str], status: str, age: float, rule: str
) -> None:
    gateway = gateway_of(api)
    due, young = await _submission(api, auth), await _submission(api, auth)
    await _age(api, due, status, age)
    await _age(api, young, status, age - 120)  # one minute before its deadline
    case_id = str((await create(api, auth, ACTIVE)).json()["caseId"])  # a case without content
    before = await counts(api)
    events = (await api.get(f"/v2/submissions/{due}/events", headers=auth)).json()
    sweeper = Sweeper(gateway.sessions, gateway.blobs, RetentionSettings())

    with structlog.testing.capture_logs() as logs:
        first = await sweeper.run_once()
    again = await sweeper.run_once()

    assert first.deleted == {rule: 3} and again.deleted == {}
    assert await _blob_refs(api, due) == (None, None, [])
    assert await _blob_refs(api, young) != (None, None, [])
    after = await counts(api)
    assert after["blobs"] == before["blobs"] - 3 and after["events"] == before["events"]
    assert (await api.get(f"/v2/submissions/{due}/events", headers=auth)).json() == events
    assert (await api.get(f"/v1/cases/{case_id}/events", headers=auth)).status_code == 200
    deleted = [e for e in logs if e["event"] == "submission_content_deleted"]
    assert deleted == [
        {
            "event": "submission_content_deleted",
            "log_level": "info",
            "submission_id": due,
            "status": status,
            "rule": rule,
            "blobs": 3,
        }
    ]


async def test_attachments_of_a_submission_never_submitted_go_after_a_day(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    gateway = gateway_of(api)
    stale, fresh = await _submission(api, auth, submit=False), await _submission(api, auth, submit=False)
    await _age(api, stale, "created", 86_400 + 60)
    result = await Sweeper(gateway.sessions, gateway.blobs, RetentionSettings()).run_once()
    assert result.deleted == {"incomplete": 1}
    assert await _blob_refs(api, stale) == (None, None, [])
    assert len((await _blob_refs(api, fresh))[2]) == 1


async def test_the_workers_sweep_at_start(settings: Settings) -> None:
    blobs = BlobStore(settings.blobs_path)
    left_by_a_crash = _plant(blobs, part=True, age=2 * HOUR)
    async with open_gateway(settings, frozenset({"workers"})):
        await eventually(lambda: not left_by_a_crash.exists(), within=10, what="the .part file swept")


async def test_blobs_waiting_for_a_subscriber_are_referenced_until_it_answers(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The re-encrypted parts of a pickup (``gateway.store.pickups``) are no orphans while the
    subscriber may still fetch them; once it has answered they are."""
    gateway = gateway_of(api)
    names = {part: await gateway.blobs.write_bytes(part.encode()) for part in ("metadata", "data", "pdf")}
    sid = await _submission(api, auth)
    async with gateway.sessions.begin() as session:
        session.add(
            Pickup(
                submission_id=sid,
                destination_id=ACTIVE,
                case_id=str(uuid.uuid4()),
                status=PickupStatus.PICKED_UP.value,
                metadata_blob=names["metadata"],
                data_blob=names["data"],
                attachment_blobs={new_id(): names["pdf"]},
                authentication_tags={},
            )
        )
    assert set(names.values()) <= await referenced_blobs(gateway.sessions)
    async with gateway.sessions.begin() as session:
        assert await step(session, sid, (PickupStatus.PICKED_UP,), PickupStatus.ACCEPTED)
    assert not set(names.values()) & await referenced_blobs(gateway.sessions)
