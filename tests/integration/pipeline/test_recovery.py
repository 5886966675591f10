"""The in-process broker keeps nothing across a restart: the database re-enqueues in-flight work."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import update

from gateway.app import create_app
from gateway.store.models import Outbox, Submission, utcnow
from tests.conftest import ACTIVE, LEIKA, SECRET, make_settings
from tests.eventually import eventually
from tests.helpers import bearer, token
from tests.integration.pipeline.conftest import service
from tests.integration.pipeline.test_pipeline import send


async def test_a_restart_delivers_what_the_in_process_broker_lost(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], database_url: str
) -> None:
    hot_folder = tmp_path / "hot"
    hot_folder.mkdir()
    tenants = [
        {
            "id": "musterstadt",
            "destinations": [
                {
                    "id": ACTIVE,
                    "services": [
                        service(LEIKA, {"name": "filesystem", "options": {"directory": str(hot_folder)}})
                    ],
                }
            ],
        }
    ]
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    settings = make_settings(tmp_path, key_template, database_url, tenants, clients)

    first = create_app(settings)  # stages off: the submission waits in the outbox
    async with first.router.lifespan_context(first):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=first), base_url="http://gateway.test"
        ) as api:
            ref, _ = await send(api, bearer(await token(api)), LEIKA)
        async with first.state.gateway.sessions.begin() as session:  # as if published, then the process died
            await session.execute(update(Outbox).values(sent_at=utcnow()))

    second = create_app(settings.model_copy(update={"run_stages": True}))
    async with second.router.lifespan_context(second):
        sessions = second.state.gateway.sessions

        async def delivered() -> bool:
            async with sessions() as session:
                row = await session.get(Submission, ref["submissionId"])
            return row is not None and row.status == "delivered"

        await eventually(delivered, within=10, what="the submission delivered")
    assert (hot_folder / ref["submissionId"] / "manifest.json").is_file()
