"""A destination's ``reject_parked_after``: the workers reject its submissions parked longer than
that, as ``xgw parked reject`` does (a destination-signed ``technical-error`` the sender can
verify, an audit entry by the policy), and leave younger ones and other destinations alone; two
workers running the check at once reject a submission once."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from sqlalchemy import select, update

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.stages.parked_expiry import ParkedExpiry
from gateway.store.models import AuditEntry, Event, ParkedMessage, Submission
from tests.conftest import ACTIVE, LEIKA, OTHER
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import PipelineGateway, service
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import EVENTS, final_log, send

REJECTING = {"name": "demo-reject", "options": {}}


async def start(pipeline: PipelineGateway) -> httpx.AsyncClient:
    """ACTIVE rejects what is parked longer than 72 hours; OTHER has no such policy. Both
    destinations' adapter refuses every submission, so each is parked at once."""
    destinations = [
        {"id": ACTIVE, "reject_parked_after": "72h", "services": [service(LEIKA, REJECTING)]},
        {"id": OTHER, "services": [service(LEIKA, REJECTING)]},
    ]
    settings = Settings.load(
        None, **pipeline.base, tenants=[{"id": "musterstadt", "destinations": destinations}]
    )
    app = create_app(settings)
    await pipeline.stack.enter_async_context(app.router.lifespan_context(app))
    client = await pipeline.stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")
    )
    client.app = app  # type: ignore[attr-defined]
    return client


async def parked_since(api: httpx.AsyncClient, submission_id: str, hours: float) -> None:
    """Pretend the submission was parked ``hours`` ago."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    async with gateway_of(api).sessions.begin() as session:
        await session.execute(
            update(ParkedMessage).where(ParkedMessage.submission_id == submission_id).values(parked_at=at)
        )


async def status_of(api: httpx.AsyncClient, submission_id: str) -> str:
    async with gateway_of(api).sessions() as session:
        row = await session.get(Submission, submission_id)
        assert row is not None
        return row.status


async def test_submissions_parked_longer_than_the_limit_are_rejected_with_a_signed_technical_error(
    pipeline: PipelineGateway,
) -> None:
    api = await start(pipeline)
    auth = bearer(await token(api))
    old, _ = await send(api, auth, LEIKA)
    young, _ = await send(api, auth, LEIKA)
    elsewhere, _ = await send(api, auth, LEIKA, destination=OTHER)
    for ref in (old, young, elsewhere):
        await settled(api, ref["submissionId"], "parked")
    await parked_since(api, old["submissionId"], 73)
    await parked_since(api, young["submissionId"], 71)
    await parked_since(api, elsewhere["submissionId"], 1000)

    expiry = gateway_of(api).expiry
    assert expiry is not None
    assert await expiry.run_once() == [old["submissionId"]]

    claims = await final_log(api, auth, old["caseId"])  # verified with the destination's public key
    assert claims[-1]["iss"] == ACTIVE
    problems = claims[-1]["events"][EVENTS + "reject-submission"]["problems"]
    assert [p["type"].rsplit("/", 1)[-1] for p in problems] == ["technical-error"]
    assert await status_of(api, old["submissionId"]) == "rejected"
    assert await status_of(api, young["submissionId"]) == "parked"
    assert await status_of(api, elsewhere["submissionId"]) == "parked"
    async with gateway_of(api).sessions() as session:
        entry = await session.scalar(
            select(AuditEntry).where(
                AuditEntry.submission_id == old["submissionId"], AuditEntry.action == "operator.reject"
            )
        )
    assert entry is not None and entry.actor == "operator:policy:reject_parked_after"
    assert "parked longer than 72h" in entry.detail["why"]
    assert await expiry.run_once() == []  # nothing more is old enough

    await parked_since(api, young["submissionId"], 80)  # two workers find it at the same time
    twin = ParkedExpiry(expiry._parked, {ACTIVE: dt.timedelta(hours=72)})
    first, second = await asyncio.gather(expiry.run_once(), twin.run_once())
    assert first + second == [young["submissionId"]]
    async with gateway_of(api).sessions() as session:
        rejects = await session.scalars(
            select(Event.id).where(
                Event.submission_id == young["submissionId"], Event.event == "reject-submission"
            )
        )
        assert len(list(rejects)) == 1
    assert await status_of(api, elsewhere["submissionId"]) == "parked"
