"""An adapter that crashes is logged with its traceback, once per attempt; an adapter that
refuses (an expected outcome) is logged without one."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from structlog.testing import capture_logs

from gateway.store.models import Submission
from tests.conftest import LEIKA
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import PipelineGateway
from tests.integration.pipeline.test_pipeline import send


async def _status(api: httpx.AsyncClient, submission_id: str) -> str | None:
    async with gateway_of(api).sessions() as session:
        return await session.scalar(select(Submission.status).where(Submission.id == submission_id))


async def test_a_crashing_adapter_is_logged_with_its_traceback(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start(
        leika_adapter={"name": "demo-crash"}, max_attempts=2, retry_delays_ms=[50]
    )
    auth = bearer(await token(api))
    with capture_logs() as logs:
        ref, _ = await send(api, auth, LEIKA)
        sid = ref["submissionId"]
        await eventually(lambda: _status(api, sid), within=20)
        await eventually(lambda: _parked(api, sid), within=20, what="the submission parked")
    crashes = [e for e in logs if e["event"] == "adapter_crashed"]
    assert len(crashes) == 2
    assert all(e["log_level"] == "error" and e.get("exc_info") is True for e in crashes)
    assert all(e["adapter"] == "demo-crash" for e in crashes)


async def test_an_adapter_refusal_is_logged_without_a_traceback(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start(leika_adapter={"name": "demo-reject"})
    auth = bearer(await token(api))
    with capture_logs() as logs:
        ref, _ = await send(api, auth, LEIKA)
        await eventually(lambda: _parked(api, ref["submissionId"]), within=20, what="the submission parked")
    refusals = [e for e in logs if e["event"] == "delivery_refused"]
    assert len(refusals) == 1 and "exc_info" not in refusals[0]
    assert not [e for e in logs if e.get("exc_info")]


async def _parked(api: httpx.AsyncClient, submission_id: str) -> bool:
    return await _status(api, submission_id) == "parked"
