"""Dry runs run in a pool of their own: while they occupy it, tokens are issued and
submissions taken in (asyncio's shared default pool used to hold all of them)."""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

import httpx
import pytest

from tests.eventually import eventually
from tests.helpers import token
from tests.integration.validator.test_dry_run import body

dry_run_module = importlib.import_module("gateway.stages.validate.dry_run")  # the package shadows it

#: More dry runs than asyncio's default pool has threads on any machine with ≤ 4 cores.
DRY_RUNS = 10


async def test_token_requests_are_served_while_dry_runs_fill_their_pool(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)
    real_check = dry_run_module.check_submission

    def held_check(*args: Any, **kwargs: Any) -> Any:
        started.release()
        release.wait(timeout=60)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(dry_run_module, "check_submission", held_check)
    services = vapi.app.state.services  # type: ignore[attr-defined]
    monkeypatch.setattr(services.limits, "max_dry_runs_per_client", DRY_RUNS)
    requests = [body(key) for _ in range(DRY_RUNS)]
    dry_runs = [asyncio.create_task(vapi.post("/v1/validate", json=b, headers=auth)) for b in requests]
    try:
        assert await asyncio.to_thread(started.acquire, timeout=30)  # one is running, the rest wait
        issued = await asyncio.wait_for(token(vapi), timeout=20)
        assert issued
    finally:
        release.set()
    answers = await asyncio.gather(*dry_runs)
    assert [a.status_code for a in answers] == [200] * DRY_RUNS


async def test_a_client_has_at_most_its_dry_runs_in_progress(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_check = dry_run_module.check_submission

    def held_check(*args: Any, **kwargs: Any) -> Any:
        release.wait(timeout=60)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(dry_run_module, "check_submission", held_check)
    limit = vapi.app.state.services.limits.max_dry_runs_per_client  # type: ignore[attr-defined]
    held = [
        asyncio.create_task(vapi.post("/v1/validate", json=body(key), headers=auth)) for _ in range(limit)
    ]
    try:
        slots = vapi.app.state.services.dry_runs  # type: ignore[attr-defined]
        await eventually(lambda: slots.held("portal") == limit, what="the dry runs in progress")
        refused = await vapi.post("/v1/validate", json=body(key), headers=auth)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert refused.json()["type"] == "urn:xoev-gateway:problem:too-many-requests"
    finally:
        release.set()
    assert [r.status_code for r in await asyncio.gather(*held)] == [200] * limit
    assert (await vapi.post("/v1/validate", json=body(key), headers=auth)).status_code == 200
