"""No second RSA unwrap: the validate stage re-wraps each part's content key under the local wrap
key and the deliver stage opens the parts with it. Counted, not timed: the RSA unwraps of the
whole flow are those of the validate stage. A wrapped key altered or moved to another part parks
the submission without calling the adapter; a submission without stored keys (validated before
they were kept) is still delivered, with RSA; no bare content key is in the database or in a
message."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData, inspect, select, update

from gateway.crypto import jwe
from gateway.store.content_keys import delete_content_keys
from gateway.store.db import MIGRATIONS, create_engine
from gateway.store.models import ContentKey, Submission
from gateway.store.pauses import Pauses
from tests.conftest import ACTIVE, LEIKA
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import PipelineGateway
from tests.integration.pipeline.test_binding_policy import park_reason, settled
from tests.integration.pipeline.test_pipeline import SAMPLE, send

PDF = b"%PDF-1.4 Lageplan"


class RsaUnwraps:
    """Counts the RSA-OAEP unwraps of the JWE code and keeps the content keys they gave."""

    def __init__(self, real: Callable[..., tuple[bytes, bool]]) -> None:
        self.real = real
        self.keys: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, key: Any, encrypted_key: bytes) -> tuple[bytes, bool]:
        cek, ok = self.real(key, encrypted_key)
        with self._lock:
            self.keys.append(cek)
        return cek, ok

    @property
    def count(self) -> int:
        return len(self.keys)


@pytest.fixture
def rsa(monkeypatch: pytest.MonkeyPatch) -> Iterator[RsaUnwraps]:
    counter = RsaUnwraps(jwe._content_key)
    monkeypatch.setattr(jwe, "_content_key", counter)
    yield counter


def delivered_files(hot_folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(hot_folder.rglob("*")) if p.is_file()]


async def paused_send(api: httpx.AsyncClient) -> str:
    """A submission sent while ACTIVE is paused, once it is validated (not yet delivered)."""
    pauses = Pauses(gateway_of(api).sessions)
    assert await pauses.set(ACTIVE, True, "test", "hold deliveries")
    ref, _ = await send(api, bearer(await token(api)), LEIKA)
    submission_id: str = ref["submissionId"]

    async def validated() -> bool:
        async with gateway_of(api).sessions() as session:
            row = await session.get(Submission, submission_id)
            return row is not None and row.status == "validated"

    await eventually(validated, within=20, what=f"{submission_id} validated")
    return submission_id


async def resume(api: httpx.AsyncClient) -> None:
    assert await Pauses(gateway_of(api).sessions).set(ACTIVE, False, "test", "go on")


async def stored_keys(api: httpx.AsyncClient, submission_id: str) -> dict[str, ContentKey]:
    async with gateway_of(api).sessions() as session:
        rows = await session.scalars(select(ContentKey).where(ContentKey.submission_id == submission_id))
        return {row.part: row for row in rows}


async def test_the_deliver_stage_unwraps_no_content_key_with_rsa(
    pipeline: PipelineGateway, rsa: RsaUnwraps
) -> None:
    api, hot_folder, _ = await pipeline.start()
    ref, aid = await send(api, bearer(await token(api)), LEIKA)
    await settled(api, ref["submissionId"], "delivered")
    assert rsa.count == 3  # metadata, data, attachment: once each, in the validate stage only
    files = delivered_files(hot_folder)
    assert PDF in files and SAMPLE.read_bytes() in files
    keys = await stored_keys(api, ref["submissionId"])
    assert set(keys) == {"metadata", "data", f"attachment:{aid}"}
    assert {len(k.wrapped) for k in keys.values()} == {60}  # nonce, wrapped key, tag: no bare key


async def test_no_bare_content_key_is_in_the_database_or_a_message(
    pipeline: PipelineGateway, rsa: RsaUnwraps
) -> None:
    api, _, _ = await pipeline.start()
    ref, _ = await send(api, bearer(await token(api)), LEIKA)
    await settled(api, ref["submissionId"], "delivered")
    forms = {
        form
        for cek in rsa.keys
        for form in (
            cek,
            cek.hex().encode(),
            base64.b64encode(cek).rstrip(b"="),
            base64.urlsafe_b64encode(cek).rstrip(b"="),
        )
    }
    assert len(rsa.keys) == 3
    seen = 0
    async with gateway_of(api).sessions() as session:
        tables = MetaData()
        await session.run_sync(lambda s: tables.reflect(bind=s.connection()))
        for table in tables.sorted_tables:  # every table, the outbox (what is published) too
            for row in await session.execute(select(table)):
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    seen += 1
                    assert not any(form in raw for form in forms), f"a content key in {table.name}"
    assert seen > 0


async def test_a_submission_without_stored_keys_is_delivered_with_rsa(
    pipeline: PipelineGateway, rsa: RsaUnwraps
) -> None:
    api, hot_folder, _ = await pipeline.start()
    submission_id = await paused_send(api)
    async with gateway_of(api).sessions.begin() as session:
        await delete_content_keys(session, submission_id)  # as if validated before keys were kept
    await resume(api)
    await settled(api, submission_id, "delivered")
    assert rsa.count == 6  # the fallback: three again in the deliver stage
    assert PDF in delivered_files(hot_folder)


@pytest.mark.parametrize("tampering", ["altered", "moved"])
async def test_a_wrapped_key_altered_or_moved_to_another_part_parks_the_submission(
    pipeline: PipelineGateway, rsa: RsaUnwraps, tampering: str
) -> None:
    api, hot_folder, _ = await pipeline.start()
    submission_id = await paused_send(api)
    keys = await stored_keys(api, submission_id)
    metadata, data = keys["metadata"], keys["data"]
    if tampering == "altered":
        changes = {"metadata": bytes([metadata.wrapped[0] ^ 1]) + metadata.wrapped[1:]}
    else:  # data's key in metadata's place: a valid wrapped key, for another part
        changes = {"metadata": data.wrapped}
    async with gateway_of(api).sessions.begin() as session:
        for part, wrapped in changes.items():
            await session.execute(
                update(ContentKey)
                .where(ContentKey.submission_id == submission_id, ContentKey.part == part)
                .values(wrapped=wrapped)
            )
    await resume(api)
    (attempt,) = await settled(api, submission_id, "parked")
    assert attempt.error_class == "ContentKeyError" and attempt.outcome.value == "permanent"
    reason = await park_reason(api, submission_id)
    assert reason is not None and "content key" in reason
    assert delivered_files(hot_folder) == []  # the adapter was never called
    assert rsa.count == 3  # no fallback to RSA for a key that does not unwrap


@pytest.mark.blank_database
async def test_migration_0010_adds_the_content_keys_table_and_takes_it_back(database_url: str) -> None:
    engine = create_engine(database_url)

    def tables(connection: Connection, target: str, step: Callable[[Config, str], None]) -> set[str]:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        step(config, target)
        return set(inspect(connection).get_table_names())

    try:
        async with engine.begin() as connection:
            before = await connection.run_sync(tables, "0009", command.upgrade)
            after = await connection.run_sync(tables, "0010", command.upgrade)
            back = await connection.run_sync(tables, "0009", command.downgrade)
    finally:
        await engine.dispose()
    assert after - before == {"content_keys"}
    assert back == before
