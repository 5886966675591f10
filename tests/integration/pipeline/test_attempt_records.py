"""Outcomes are data: each recorded attempt names the configured adapter and keeps what the vendor
said, its reason code on a refusal, its reference and note on success."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect

from gateway.store.attempts import AttemptOutcome
from gateway.store.db import MIGRATIONS, create_engine
from tests.conftest import LEIKA
from tests.helpers import bearer, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import send


async def test_a_refusal_is_recorded_with_the_configured_adapter_name_and_the_vendors_code(
    pipeline: PipelineGateway,
) -> None:
    refusal = {"detail": "Bauantrag unvollständig", "code": "E-4711"}
    api, _, _ = await pipeline.start(leika_adapter={"name": "demo-reject", "options": refusal})
    ref, _ = await send(api, bearer(await token(api)), LEIKA)
    (attempt,) = await settled(api, ref["submissionId"], "parked")
    assert attempt.adapter == "demo-reject"  # the configured name, not DemoRejectAdapter
    assert (attempt.outcome, attempt.code) == (AttemptOutcome.PERMANENT, "E-4711")
    assert (attempt.error, attempt.error_class) == ("Bauantrag unvollständig", "PermanentDeliveryError")
    assert attempt.reference is None and attempt.detail is None


async def test_a_delivery_is_recorded_with_the_vendors_reference_and_note(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start()
    ref, _ = await send(api, bearer(await token(api)), HTTP_LEIKA)
    (attempt,) = await settled(api, ref["submissionId"], "delivered")
    assert (attempt.attempt, attempt.adapter, attempt.outcome) == (1, "http", AttemptOutcome.DELIVERED)
    assert (attempt.reference, attempt.detail) == ("DMS-00001", "HTTP 201")
    assert attempt.error is None and attempt.error_class is None and attempt.code is None
    assert attempt.latency_ms >= 0 and attempt.at is not None


@pytest.mark.blank_database
async def test_migration_0005_adds_the_outcome_columns_and_takes_them_back(database_url: str) -> None:
    engine = create_engine(database_url)

    def columns(connection: Connection, target: str, step: Callable[[Config, str], None]) -> set[str]:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        step(config, target)
        return {c["name"] for c in inspect(connection).get_columns("delivery_attempts")}

    try:
        async with engine.begin() as connection:
            before = await connection.run_sync(columns, "0004", command.upgrade)
            after = await connection.run_sync(columns, "0005", command.upgrade)
            back = await connection.run_sync(columns, "0004", command.downgrade)
    finally:
        await engine.dispose()
    assert after - before == {"error_class", "code", "detail"}
    assert back == before
