"""Dry runs run in a pool of their own: while they occupy it, tokens are issued and
submissions taken in (asyncio's shared default pool used to hold all of them)."""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

import httpx
import pytest

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
