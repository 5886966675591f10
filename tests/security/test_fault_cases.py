"""Cases of SECURITY-CASES.md "F. Reliability" that an in-process gateway can show: intake never
waits for the broker (F1, F9), a deleted submit event is caught before validation (F21), and a
database that refuses to write the event log fails the submit closed with 503 (F23)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, select, text

from gateway.stages.validate import Validator
from gateway.store.models import Event, Outbox
from gateway.store.retention import referenced_blobs
from tests.conftest import ACTIVE, XBAU
from tests.helpers import bearer, counts, create, encrypt, encryption_key, gateway_of, new_id, token, upload
from tests.integration.validator.support import XBAU_SAMPLE, attach_validator, send

pytestmark = pytest.mark.timeout(60)

OWN = "urn:xoev-gateway:problem:"


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(api))


async def _created(api: httpx.AsyncClient, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    sid = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]
    assert (await upload(api, auth, sid, aid, encrypt(key, b"%PDF-1.4"))).status_code == 204
    return sid, {"encryptedMetadata": encrypt(key, b"{}"), "encryptedData": encrypt(key, b"<a/>")}


async def test_f1_f9_submit_commits_to_the_database_without_any_broker(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The API role has no broker at all: a broker that is down, blocked by a resource alarm or
    slow cannot delay or fail an answer; the outbox row waits for the relay."""
    assert gateway_of(api).broker is None
    sid, body = await _created(api, auth)
    response = await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)
    assert response.status_code == 200, response.text
    async with gateway_of(api).sessions() as session:
        rows = list(await session.scalars(select(Outbox).where(Outbox.message_id == f"validate:{sid}")))
    assert len(rows) == 1 and rows[0].sent_at is None


async def test_f21_a_deleted_submit_event_is_an_invalid_event_log(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    validator: Validator = attach_validator(api.app)  # type: ignore[attr-defined]
    key = await encryption_key(api, auth, ACTIVE)
    ref = await send(api, auth, key, XBAU_SAMPLE, XBAU)
    async with gateway_of(api).sessions.begin() as session:
        await session.execute(
            delete(Event).where(
                Event.submission_id == ref["submissionId"], Event.event == "submit-submission"
            )
        )
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status == "rejected"
    assert [p.as_json()["type"] for p in outcome.problems] == ["urn:xoev-gateway:problem:invalid-event-log"]


_REFUSE = {
    "postgresql": [
        "CREATE FUNCTION xgw_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'permission denied for table events' USING ERRCODE = '42501'; END $$",
        "CREATE TRIGGER xgw_test_refuse BEFORE INSERT ON events FOR EACH ROW "
        "EXECUTE FUNCTION xgw_test_refuse()",
    ],
}


async def test_f23_an_event_log_that_cannot_be_written_fails_the_submit_closed_with_503(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """PostgreSQL: INSERT on the event log is refused (SQLSTATE 42501, as after a REVOKE);
    SQLite: the database file turned read-only. Nothing is stored, nothing queued."""
    sid, body = await _created(api, auth)
    before = await counts(api)
    gateway = gateway_of(api)
    dialect = gateway.engine.dialect.name
    async with gateway.engine.begin() as connection:
        for statement in _REFUSE.get(dialect, []):
            await connection.execute(text(statement))

    def read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    if dialect == "sqlite":  # every new connection refuses writes ("readonly database")
        await gateway.engine.dispose()
        event.listen(gateway.engine.sync_engine, "connect", read_only)
    try:
        response = await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)
    finally:
        if dialect == "sqlite":
            event.remove(gateway.engine.sync_engine, "connect", read_only)
            await gateway.engine.dispose()
    assert response.status_code == 503, response.text
    assert response.json()["type"] == OWN + "service-unavailable" and response.headers["retry-after"]
    assert json.loads(response.content)["status"] == 503
    after = await counts(api)
    assert {k: v for k, v in after.items() if k != "blobs"} == {
        k: v for k, v in before.items() if k != "blobs"
    }

    async def referenced() -> frozenset[str]:
        return await referenced_blobs(gateway.sessions)

    await gateway.blobs.sweep(referenced, older_than=float("inf"))  # a failed flush may leave them
    assert await counts(api) == before
