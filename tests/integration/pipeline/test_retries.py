"""Delivery outcomes by policy: transient failures retry with growing delays, permanent ones
park at once, a crashing adapter is transient until the budget is spent."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from gateway.store.models import DeliveryAttempt, ParkedMessage, Submission
from tests.conftest import ACTIVE, LEIKA
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_pipeline import final_log, send
from tests.unit.adapters.vendor_server import Answer


async def _settled(api: httpx.AsyncClient, submission_id: str, status: str) -> list[DeliveryAttempt]:
    """The delivery attempts, once the submission has become ``status``."""
    sessions = gateway_of(api).sessions

    async def attempts() -> list[DeliveryAttempt]:
        async with sessions() as session:
            row = await session.get(Submission, submission_id)
            now = row.status if row else None
            assert now == status, f"{submission_id} is {now}"
            rows = await session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.submission_id == submission_id)
                .order_by(DeliveryAttempt.id)
            )
            return list(rows)

    return await eventually(attempts, within=20, what=f"{submission_id} {status}")


async def _parkings(api: httpx.AsyncClient, submission_id: str) -> list[ParkedMessage]:
    async with gateway_of(api).sessions() as session:
        rows = await session.scalars(
            select(ParkedMessage).where(ParkedMessage.submission_id == submission_id)
        )
        return list(rows)


async def test_transient_failures_retry_with_growing_delays_then_succeed(pipeline: PipelineGateway) -> None:
    api, _, vendor = await pipeline.start(max_attempts=5, retry_delays_ms=[150, 450, 1350])
    vendor.script(Answer(503), Answer(429, {"Retry-After": "0"}), Answer(503))
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, HTTP_LEIKA)
    attempts = await _settled(api, ref["submissionId"], "delivered")
    assert [a.outcome for a in attempts] == ["transient", "transient", "transient", "delivered"]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.45 and gaps[2] >= 1.35
    assert gaps[0] < gaps[1] < gaps[2]
    claims = await final_log(api, auth, ref["caseId"])
    assert next(iter(claims[-1]["events"])).endswith("accept-submission")
    assert sum(1 for p in vendor.posts() if p.status < 300) == 1


async def test_permanent_failure_parks_without_burning_retries(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start(leika_adapter={"name": "demo-reject"}, max_attempts=5)
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, LEIKA)
    attempts = await _settled(api, ref["submissionId"], "parked")
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "permanent")]
    assert [p.reason for p in await _parkings(api, ref["submissionId"])] == [
        "the adapter refused it: rejected by demo-reject"
    ]
    await asyncio.sleep(0.5)  # lets time pass on purpose: nothing comes back from the parking queue
    assert len(await _settled(api, ref["submissionId"], "parked")) == 1


async def test_a_crashing_adapter_is_retried_up_to_the_budget_then_parked(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start(
        leika_adapter={"name": "demo-crash"}, max_attempts=3, retry_delays_ms=[50, 100]
    )
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, LEIKA)
    attempts = await _settled(api, ref["submissionId"], "parked")
    assert [(a.attempt, a.outcome) for a in attempts] == [
        (1, "transient"),
        (2, "transient"),
        (3, "transient"),
    ]
    assert all(a.error and a.error.startswith("RuntimeError") for a in attempts)
    (parking,) = await _parkings(api, ref["submissionId"])
    assert parking.reason.startswith("retries exhausted after 3 attempts: RuntimeError: demo-crash crashed")
    assert parking.queue.endswith(".deliver." + ACTIVE)
    assert parking.message_id == f"deliver:{ref['submissionId']}"
