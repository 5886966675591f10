"""Retry control per adapter binding: the vendor's ``Retry-After``, a binding's own delays, budget
and call timeout change when and how often the vendor is called again; a binding without its own
policy keeps the gateway's ``delivery`` settings."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from gateway.store.attempts import Attempt, AttemptOutcome, attempts_of
from gateway.store.models import ParkedMessage, Submission
from tests.conftest import LEIKA, OTHER
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_pipeline import send
from tests.unit.adapters.vendor_server import Answer

TRANSIENT, DELIVERED = AttemptOutcome.TRANSIENT, AttemptOutcome.DELIVERED


async def settled(api: httpx.AsyncClient, submission_id: str, status: str) -> list[Attempt]:
    """The recorded attempts, once the submission has become ``status``."""
    sessions = gateway_of(api).sessions

    async def attempts() -> list[Attempt]:
        async with sessions() as session:
            row = await session.get(Submission, submission_id)
            assert row is not None and row.status == status, f"{submission_id} is {row and row.status}"
            return await attempts_of(session, submission_id)

    return await eventually(attempts, within=20, what=f"{submission_id} {status}")


def gaps(attempts: list[Attempt]) -> list[float]:
    """Seconds between consecutive attempts' records."""
    times = [a.at for a in attempts if a.at is not None]
    return [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]


async def park_reason(api: httpx.AsyncClient, submission_id: str) -> str | None:
    async with gateway_of(api).sessions() as session:
        return await session.scalar(
            select(ParkedMessage.reason).where(ParkedMessage.submission_id == submission_id)
        )


async def test_the_vendors_retry_after_sets_the_actual_retry_time(pipeline: PipelineGateway) -> None:
    api, _, vendor = await pipeline.start(max_attempts=4, retry_delays_ms=[100, 300, 1000])
    vendor.script(Answer(503, {"Retry-After": "1"}), Answer(503))
    ref, _ = await send(api, bearer(await token(api)), HTTP_LEIKA)
    attempts = await settled(api, ref["submissionId"], "delivered")
    assert [a.outcome for a in attempts] == [TRANSIENT, TRANSIENT, DELIVERED]
    after_retry_after, after_backoff = gaps(attempts)
    assert after_retry_after >= 1.0  # the vendor's 1 s, not the 0.1 s backoff of attempt 1
    assert 0.3 <= after_backoff < 1.0  # no Retry-After: the 0.3 s backoff of attempt 2


async def test_retry_after_is_capped_by_the_longest_delay_of_the_bindings_policy(
    pipeline: PipelineGateway,
) -> None:
    api, _, vendor = await pipeline.start(
        max_attempts=4, retry_delays_ms=[100, 300, 5000], http_retry={"delays_seconds": [0.1, 0.3]}
    )
    vendor.script(Answer(429, {"Retry-After": "60"}))
    ref, _ = await send(api, bearer(await token(api)), HTTP_LEIKA)
    attempts = await settled(api, ref["submissionId"], "delivered")
    assert [a.outcome for a in attempts] == [TRANSIENT, DELIVERED]
    (gap,) = gaps(attempts)
    assert 0.3 <= gap < 4.0  # the binding's longest delay, not 60 s nor the 5 s level


async def test_a_bindings_own_policy_sets_its_retry_times_and_budget_another_destination_keeps_the_default(
    pipeline: PipelineGateway,
) -> None:
    api, _, _ = await pipeline.start(
        leika_adapter={"name": "demo-crash", "retry": {"delays_seconds": [1.5], "max_attempts": 2}},
        other_adapter={"name": "demo-crash"},
        max_attempts=4,
        retry_delays_ms=[100, 1500],
    )
    auth = bearer(await token(api))
    own, _ = await send(api, auth, LEIKA)
    default, _ = await send(api, auth, LEIKA, OTHER)
    own_attempts = await settled(api, own["submissionId"], "parked")
    default_attempts = await settled(api, default["submissionId"], "parked")
    assert [a.attempt for a in own_attempts] == [1, 2]
    assert [a.attempt for a in default_attempts] == [1, 2, 3, 4]
    assert gaps(own_attempts)[0] >= 1.5  # the binding's delay for attempt 1
    first, *rest = gaps(default_attempts)
    assert first < 1.4 and all(gap >= 1.5 for gap in rest)  # delivery.retry_delays_ms
    own_reason, default_reason = [await park_reason(api, r["submissionId"]) for r in (own, default)]
    assert own_reason and own_reason.startswith("retries exhausted after 2 attempts")
    assert default_reason and default_reason.startswith("retries exhausted after 4 attempts")


async def test_a_hanging_adapter_times_out_after_its_bindings_timeout_into_a_retry(
    pipeline: PipelineGateway,
) -> None:
    api, _, vendor = await pipeline.start(http_retry={"timeout_seconds": 0.5})
    vendor.script(Answer(503, delay=5))  # the vendor hangs on the first call only
    ref, _ = await send(api, bearer(await token(api)), HTTP_LEIKA)
    hung, delivered = await settled(api, ref["submissionId"], "delivered")
    assert (hung.outcome, hung.error_class) == (TRANSIENT, "TimeoutError")
    assert hung.error == "the adapter did not answer within 0.5 s"
    assert 500 <= hung.latency_ms < 2500  # the binding's 0.5 s, not delivery.deliver_timeout_seconds
    assert (delivered.attempt, delivered.outcome) == (2, DELIVERED)
