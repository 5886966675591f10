"""Parked submissions handled by an operator with ``xgw parked`` (run as a second process on the
same database and broker): a vendor endpoint that was down parks submissions; once it is back,
replay delivers each exactly once with attempt numbers that continue; reject tells the sender
with a destination-signed ``reject-submission``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from gateway.store.audit import entries_of
from tests.conftest import ACTIVE
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import EVENTS, final_log, send
from tests.unit.adapters.vendor_server import Answer

XGW = str(Path(sys.executable).with_name("xgw"))


async def xgw(api: httpx.AsyncClient, *args: str) -> tuple[int, str, str]:
    """``xgw <args>`` as its own process on this gateway's database, keys and blobs."""
    settings = gateway_of(api).settings
    env = {
        **os.environ,
        "XGW_DATA_DIR": str(settings.data_dir),
        "XGW_KEY_DIR": str(settings.keys_path),
        "XGW_DATABASE_URL": settings.database,
        "XGW_DELIVERY__NAMESPACE": settings.delivery.namespace,
    }
    process = await asyncio.create_subprocess_exec(
        XGW, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def parked_list(api: httpx.AsyncClient, *filters: str) -> list[dict[str, Any]]:
    code, out, err = await xgw(api, "parked", "list", "--json", *filters)
    assert code == 0, err
    return list(json.loads(out))


async def test_replay_after_the_vendor_recovers_delivers_each_parked_submission_once(
    pipeline: PipelineGateway,
) -> None:
    api, _, vendor = await pipeline.start(max_attempts=2, retry_delays_ms=[100])
    vendor.script(*[Answer(503, body=b"maintenance")] * 4)
    auth = bearer(await token(api))
    refs = [(await send(api, auth, HTTP_LEIKA))[0] for _ in range(2)]
    for ref in refs:
        await settled(api, ref["submissionId"], "parked")

    listed = await parked_list(api, "--destination", ACTIVE)
    assert {p["submission_id"] for p in listed} == {r["submissionId"] for r in refs}
    assert all(p["attempts"] == 2 and p["adapter"] == "http" for p in listed)
    assert "retries exhausted" in listed[0]["reason"]
    assert await parked_list(api, "--adapter", "filesystem") == []
    assert await parked_list(api, "--destination", "00000000-0000-0000-0000-000000000000") == []

    code, out, err = await xgw(api, "parked", "replay", "--destination", ACTIVE, "--dry-run", "--reason", "t")
    assert code == 0, err
    assert "2 would-replay" in out
    assert len(await parked_list(api)) == 2

    code, out, err = await xgw(
        api, "parked", "replay", "--destination", ACTIVE, "--reason", "vendor back", "--json"
    )
    assert code == 0, err
    assert [r["outcome"] for r in json.loads(out)] == ["replayed", "replayed"]
    for ref in refs:
        attempts = await settled(api, ref["submissionId"], "delivered")
        assert [(a.attempt, a.outcome.value) for a in attempts] == [
            (1, "transient"),
            (2, "transient"),
            (3, "delivered"),
        ]
        code, out, err = await xgw(api, "trace", ref["submissionId"], "--json")
        assert code == 0, err
        traced = [e["fields"] for e in json.loads(out)["entries"] if e["kind"] == "attempt"]
        assert [a["attempt"] for a in traced] == [1, 2, 3]
        async with gateway_of(api).sessions() as session:
            audit = await entries_of(session, ref["submissionId"])
        replay = next(e for e in audit if e.action == "operator.replay")
        assert replay.actor.startswith("operator:") and replay.detail["why"] == "vendor back"
    assert sorted(vendor.effects.values()) == [1, 1]
    assert await parked_list(api) == []
    code, out, _ = await xgw(api, "parked", "replay", "--all", "--reason", "again")
    assert code == 0 and "no parked submissions matched" in out


async def test_reject_tells_the_sender_with_a_signed_technical_error(pipeline: PipelineGateway) -> None:
    api, _, vendor = await pipeline.start()
    vendor.script(Answer(422, body=b"E-4711 Antrag unvollstaendig"))
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, HTTP_LEIKA)
    await settled(api, ref["submissionId"], "parked")

    code, out, err = await xgw(api, "parked", "show", ref["submissionId"], "--json")
    assert code == 0, err
    assert json.loads(out)["code"] == "422"

    code, out, err = await xgw(api, "parked", "reject", ref["submissionId"], "--reason", "vendor refuses")
    assert code == 0, err
    claims = await final_log(api, auth, ref["caseId"])  # verified with the destination's public key
    rejected = claims[-1]
    assert rejected["iss"] == ACTIVE
    problems = rejected["events"][EVENTS + "reject-submission"]["problems"]
    assert [p["type"].rsplit("/", 1)[-1] for p in problems] == ["technical-error"]
    assert await parked_list(api) == []
    code, _, err = await xgw(api, "parked", "reject", ref["submissionId"], "--reason", "twice")
    assert code == 1 and "no parked submission" in err
    assert vendor.effects.total() == 0
