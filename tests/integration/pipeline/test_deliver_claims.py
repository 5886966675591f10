"""The deliver stage claims a submission before it calls the adapter: a second copy of the
message waits instead of calling the vendor at the same time; a claim never released is recorded
as an interrupted attempt; a park the fabric decides waits for an attempt still in flight."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select, update

from gateway.broker import DONE, Delivery, Park, Wait
from gateway.routing.routes import StageMessage
from gateway.stages.deliver import DeliverStage
from gateway.store.claims import Busy, Claimed, claim
from gateway.store.models import DeliveryAttempt, ParkedMessage, Submission
from tests.conftest import ACTIVE
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_pipeline import final_log, send
from tests.unit.adapters.vendor_server import Answer


async def _row(api: httpx.AsyncClient, submission_id: str) -> Submission:
    async with gateway_of(api).sessions() as session:
        row = await session.get(Submission, submission_id)
        assert row is not None
        return row


async def _attempts(api: httpx.AsyncClient, submission_id: str) -> list[DeliveryAttempt]:
    async with gateway_of(api).sessions() as session:
        rows = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.submission_id == submission_id)
            .order_by(DeliveryAttempt.id)
        )
        return list(rows)


def _deliver_stage(api: httpx.AsyncClient) -> DeliverStage:
    gateway = gateway_of(api)
    assert gateway.broker is not None  # the pipeline runs its stages
    stage = gateway.handlers[gateway.broker.topology.deliver_queue(ACTIVE)]
    assert isinstance(stage, DeliverStage)
    return stage


def _delivery(submission_id: str, attempt: int = 1) -> Delivery:
    message = StageMessage("deliver", submission_id, ACTIVE)
    return Delivery(f"x.deliver.{ACTIVE}", f"deliver:{submission_id}", message.envelope(), attempt, False)


async def test_a_duplicate_delivery_message_waits_for_the_claim_and_never_calls_the_vendor_twice(
    pipeline: PipelineGateway,
) -> None:
    api, _, vendor = await pipeline.start()
    vendor.script(Answer(201, delay=1.5))
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, HTTP_LEIKA)
    sid = ref["submissionId"]
    await eventually(lambda: len(vendor.posts()) >= 1, within=10, what="the first vendor call")
    broker = gateway_of(api).broker
    assert broker is not None  # the pipeline runs its stages
    message = StageMessage("deliver", sid, ACTIVE)
    queue = broker.topology.deliver_queue(ACTIVE)
    await broker.publish(queue, message.envelope(), message_id=f"deliver:{sid}")
    claims = await final_log(api, auth, ref["caseId"])
    assert [next(iter(c["events"])).rsplit("/", 1)[-1] for c in claims].count("accept-submission") == 1
    row = await _row(api, sid)
    assert row.status == "delivered" and row.claimed_until is None
    assert len(vendor.posts()) == 1  # the copy waited, then found it delivered
    assert [a.outcome for a in await _attempts(api, sid)] == ["delivered"]


@pytest.fixture
async def validated(pipeline: PipelineGateway) -> tuple[httpx.AsyncClient, str]:
    """A submission left ``validated`` (its delivery message consumed by a test-controlled stage)."""
    api, _, vendor = await pipeline.start()
    vendor.script(Answer(503), Answer(503), Answer(503), Answer(503), Answer(503), Answer(503))
    ref, _ = await send(api, bearer(await token(api)), HTTP_LEIKA)
    sid = ref["submissionId"]
    await eventually(lambda: len(vendor.posts()) >= 1, within=10, what="a vendor call")
    for consumer in list(gateway_of(api).consumers):
        await consumer.stop(grace=5)  # nothing consumes any more: the test drives the stage
    row = await _row(api, sid)
    assert row.status == "validated"
    async with gateway_of(api).sessions.begin() as session:  # the retry copy waits in a delay queue
        await session.execute(update(Submission).where(Submission.id == sid).values(claimed_until=None))
    return api, sid


async def test_an_expired_claim_never_released_is_recorded_as_an_interrupted_attempt(
    validated: tuple[httpx.AsyncClient, str],
) -> None:
    api, sid = validated
    sessions = gateway_of(api).sessions
    assert await claim(sessions, sid, 2, 60.0, "http") == Claimed()
    assert isinstance(await claim(sessions, sid, 3, 60.0, "http"), Busy)  # held: the copy waits
    async with sessions.begin() as session:  # the holder died: its lease runs out
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await session.execute(update(Submission).where(Submission.id == sid).values(claimed_until=past))
    assert await claim(sessions, sid, 3, 60.0, "http") == Claimed(interrupted=2)
    interrupted = [a for a in await _attempts(api, sid) if a.outcome == "interrupted"]
    assert [(a.attempt, a.adapter) for a in interrupted] == [(2, "http")]


async def test_a_park_decided_by_the_fabric_waits_for_an_attempt_in_flight_then_is_recorded(
    validated: tuple[httpx.AsyncClient, str],
) -> None:
    api, sid = validated
    stage = _deliver_stage(api)
    assert await claim(stage.sessions, sid, 4, 60.0, "http") == Claimed()
    waited = await stage.parked(_delivery(sid, 4), "delivery limit: test")
    assert isinstance(waited, Wait) and (await _row(api, sid)).status == "validated"
    async with stage.sessions.begin() as session:
        await session.execute(update(Submission).where(Submission.id == sid).values(claimed_until=None))
    assert await stage.parked(_delivery(sid, 4), "delivery limit: test") == Park("delivery limit: test")
    row = await _row(api, sid)
    assert row.status == "parked" and row.claimed_until is None
    async with stage.sessions() as session:
        parked = list(await session.scalars(select(ParkedMessage).where(ParkedMessage.submission_id == sid)))
    assert [(p.reason, p.message_id) for p in parked] == [("delivery limit: test", f"deliver:{sid}")]
    assert await stage.handle(_delivery(sid, 5)) == DONE  # a parked submission is not delivered again
