"""A park is recorded once per message, and a dead letter whose work finished meanwhile is
dropped by its stage instead of parked (no record, the submission untouched)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker import DONE, Delivery
from gateway.routing.routes import StageMessage
from gateway.store.models import ParkedMessage, Submission
from gateway.store.parking import record_parked
from tests.conftest import ACTIVE, LEIKA
from tests.eventually import eventually
from tests.helpers import bearer, token
from tests.integration.pipeline.conftest import PipelineGateway
from tests.integration.pipeline.test_pipeline import send


def _sessions(api: httpx.AsyncClient) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = api.app.state.gateway.sessions  # type: ignore[attr-defined]
    return sessions


async def _parked_count(api: httpx.AsyncClient) -> int:
    async with _sessions(api)() as session:
        return int(await session.scalar(select(func.count()).select_from(ParkedMessage)) or 0)


async def _status(api: httpx.AsyncClient, submission_id: str) -> str | None:
    async with _sessions(api)() as session:
        return await session.scalar(select(Submission.status).where(Submission.id == submission_id))


async def test_a_park_recorded_again_keeps_one_record(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start()
    async with _sessions(api).begin() as session:
        await record_parked(session, "x.deliver.d", "deliver:s", None, "first")
    async with _sessions(api).begin() as session:
        await record_parked(session, "x.deliver.d", "deliver:s", None, "again")
        await record_parked(session, "x.callbacks", "deliver:s", None, "other queue")
    async with _sessions(api)() as session:
        rows = list(await session.scalars(select(ParkedMessage).order_by(ParkedMessage.id)))
    assert [(r.queue, r.reason) for r in rows] == [("x.deliver.d", "first"), ("x.callbacks", "other queue")]


async def test_dead_letters_of_finished_work_are_dropped_without_a_record(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start()
    ref, _ = await send(api, bearer(await token(api)), LEIKA)
    sid = ref["submissionId"]
    await eventually(lambda: _is_delivered(api, sid), within=20, what="delivered")
    gateway = api.app.state.gateway  # type: ignore[attr-defined]
    topology = gateway.broker.topology
    validate = StageMessage("validate", sid).envelope()
    deliver = StageMessage("deliver", sid, ACTIVE).envelope()
    late_validate = Delivery(topology.dead_queue, f"validate:{sid}", validate, 1, False)
    late_deliver = Delivery(topology.dead_queue, f"deliver:{sid}", deliver, 1, False)
    assert await gateway.handlers[topology.validate_queue].parked(late_validate, "delivery limit") == DONE
    assert (
        await gateway.handlers[topology.deliver_queue(ACTIVE)].parked(late_deliver, "delivery limit") == DONE
    )
    assert await _status(api, sid) == "delivered"
    assert await _parked_count(api) == 0


async def _is_delivered(api: httpx.AsyncClient, submission_id: str) -> bool:
    return await _status(api, submission_id) == "delivered"
