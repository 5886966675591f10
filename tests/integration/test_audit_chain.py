"""The audit log's chain: a changed or deleted entry is found at its sequence number (also by
``xgw audit verify``, exit 1), concurrent appends make one unbroken chain on PostgreSQL and on
SQLite, and an operator's action and the step it takes are attributed to the operator."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from sqlalchemy import text

from gateway.store import audit
from gateway.store.db import open_database
from gateway.store.lifecycle import SubmissionStatus, transition
from gateway.store.models import AuditEntry
from tests.conftest import ACTIVE, XBAU
from tests.helpers import bearer, create, encrypt, encryption_key, gateway_of, metadata_for, token

XGW = str(Path(sys.executable).with_name("xgw"))
XML = b"<?xml version='1.0' encoding='UTF-8'?><antrag/>"


async def _submitted(api: httpx.AsyncClient) -> str:
    """One submission created and submitted (stages off): four entries."""
    auth = bearer(await token(api))
    key = await encryption_key(api, auth, ACTIVE)
    sid: str = (await create(api, auth, ACTIVE)).json()["submissionId"]
    body = {
        "encryptedMetadata": encrypt(key, metadata_for(XML, {}, XBAU), cty="application/json"),
        "encryptedData": encrypt(key, XML),
    }
    assert (await api.put(f"/v1/submissions/{sid}", json=body, headers=auth)).status_code == 200
    return sid


async def _verify(api: httpx.AsyncClient) -> audit.Verdict:
    async with gateway_of(api).sessions() as session:
        return await audit.verify(session)


async def _tamper(api: httpx.AsyncClient, statement: str) -> None:
    async with gateway_of(api).sessions.begin() as session:
        await session.execute(text(statement))


async def xgw(api: httpx.AsyncClient, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """``xgw <args>`` as its own process on this gateway's database."""
    env = {
        **os.environ,
        "XGW_DATA_DIR": str(tmp_path / "cli-data"),
        "XGW_DATABASE_URL": gateway_of(api).settings.database,
    }
    process = await asyncio.create_subprocess_exec(
        XGW, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_a_changed_entry_is_reported_at_its_sequence_number_by_xgw_audit_verify(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    sid = await _submitted(api)
    await _submitted(api)
    code, out, err = await xgw(api, tmp_path, "audit", "verify")
    assert code == 0 and out.startswith("ok: 8 entries, chain intact"), err
    code, out, _ = await xgw(api, tmp_path, "audit", "show", sid)
    assert code == 0 and sid in out and "submission.submitted" in out and "submit-submission" in out

    await _tamper(api, "UPDATE audit_log SET outcome = 'delivered' WHERE seq = 4")

    verdict = await _verify(api)
    assert verdict.broken is not None and verdict.broken.seq == 4 and verdict.intact == 3
    assert "does not match its hash" in verdict.broken.problem
    code, _, err = await xgw(api, tmp_path, "audit", "verify")
    assert code == 1 and "broken at entry 4" in err


async def test_a_changed_entry_with_a_recomputed_hash_breaks_the_next_link(api: httpx.AsyncClient) -> None:
    await _submitted(api)
    async with gateway_of(api).sessions.begin() as session:
        entry = await session.get(AuditEntry, 2)
        assert entry is not None
        entry.actor = "someone-else"
        entry.hash = audit.entry_hash({name: getattr(entry, name) for name in audit.FIELDS})

    verdict = await _verify(api)
    assert verdict.broken is not None and verdict.broken.seq == 3 and "prev_hash" in verdict.broken.problem


async def test_a_deleted_entry_is_reported_as_missing(api: httpx.AsyncClient) -> None:
    await _submitted(api)
    await _tamper(api, "DELETE FROM audit_log WHERE seq = 3")

    verdict = await _verify(api)
    assert verdict.broken == audit.Break(3, "entry 3 is missing (the next is 4)")


async def test_an_operators_action_and_the_step_it_takes_name_the_operator(api: httpx.AsyncClient) -> None:
    sid = await _submitted(api)
    async with gateway_of(api).sessions.begin() as session:
        audit.operator_action(session, "alice", "reject", sid, "rejected", ticket="OPS-17")
        S = SubmissionStatus
        assert await transition(session, sid, S.SUBMITTED, S.REJECTED)
    async with gateway_of(api).sessions() as session:
        entries = (await audit.entries_of(session, sid))[-2:]

    assert [(e.action, e.actor, e.destination_id) for e in entries] == [
        ("operator.reject", "operator:alice", ACTIVE),
        ("submission.rejected", "operator:alice", ACTIVE),
    ]
    assert entries[0].detail == {"ticket": "OPS-17"} and (await _verify(api)).broken is None


async def test_concurrent_appends_make_one_unbroken_chain(database_url: str) -> None:
    """60 transactions at once, each writing nothing but three entries (PostgreSQL: up to 20 on
    their own connections)."""
    engine, sessions = await open_database(database_url)

    async def append(n: int) -> None:
        async with sessions.begin() as session:
            for k in range(3):
                audit.record(session, audit.Entry("test.append", detail={"n": n, "k": k}))

    try:
        await asyncio.gather(*(append(n) for n in range(60)))
        async with sessions() as session:
            verdict = await audit.verify(session)
            seqs = list(await session.scalars(text("SELECT seq FROM audit_log ORDER BY seq")))
    finally:
        await engine.dispose()
    assert verdict.broken is None and verdict.intact == 180 and seqs == list(range(1, 181))
