"""What the audit log costs: the store's transactions of a submission's life, with and without it.

Each submission takes the four transactions the stages commit, with the same hooks: create
(submission + create event), submit (step + submit event + outbox row), validate (step), deliver
(attempt + step + accept event). ``--concurrency`` workers run ``--submissions`` lives at once,
on SQLite in a temp dir or on a PostgreSQL database created for the run and dropped. The baseline
is the same flow in the same run with the hooks' ``record`` replaced by a no-op (nothing is
appended, no lock is taken). Runs alternate (baseline, audited) ``--runs`` times; the report
gives submissions/s (median) and the ratio of the audited time to the baseline's. No HTTP, no
crypto, no validation: the full flow spends far more per submission, so this ratio is the upper
bound of the audit log's share.

    python bench/audit_cost.py --database sqlite
    python bench/audit_cost.py --database postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.events import log as events_log
from gateway.store import attempts, lifecycle
from gateway.store.attempts import Attempt, AttemptOutcome, record_attempt
from gateway.store.db import open_database
from gateway.store.lifecycle import SubmissionStatus, add_submission, transition
from gateway.store.models import Destination, Outbox, Submission, Tenant

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DESTINATION = "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01"
TOKEN = "eyJhbGciOiJQUzUxMiJ9." + "x" * 600 + ".sig"  #: about the size of a signed SET
S = SubmissionStatus
HOOKED: tuple[ModuleType, ...] = (lifecycle, events_log, attempts)


@contextlib.contextmanager
def without_audit() -> Iterator[None]:
    """The hooks' ``record`` replaced by a no-op while the block runs."""
    saved = [module.record for module in HOOKED]
    for module in HOOKED:
        module.record = lambda session, entry: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in zip(HOOKED, saved, strict=True):
            module.record = original  # type: ignore[attr-defined]


async def life(sessions: async_sessionmaker[AsyncSession]) -> None:
    """One submission from create to delivered, in the stages' four transactions."""
    sid, case = str(uuid.uuid4()), str(uuid.uuid4())
    row = Submission(
        id=sid,
        case_id=case,
        destination_id=DESTINATION,
        client_id="portal",
        service_identifier="urn:de:fim:leika:leistung:99066006001000",
        service_name="Baugenehmigung",
        status=S.CREATED,
        announced_attachments=[],
    )
    async with sessions.begin() as session:
        add_submission(session, row)
        await session.flush()
        events_log.add_event(session, row, "create-submission", TOKEN)
    async with sessions.begin() as session:
        tags = {"metadata": "m" * 22, "data": "d" * 22, "attachments": {}}
        await transition(session, sid, S.CREATED, S.SUBMITTED, evidence={"authentication_tags": tags})
        events_log.add_event(session, row, "submit-submission", TOKEN)
        session.add(Outbox(queue="validate", message_id=f"validate:{sid}", envelope={"submissionId": sid}))
    async with sessions.begin() as session:
        await transition(session, sid, S.SUBMITTED, S.VALIDATED)
    async with sessions.begin() as session:
        record_attempt(session, Attempt(sid, 1, "filesystem", AttemptOutcome.DELIVERED, 3))
        await transition(session, sid, S.VALIDATED, S.DELIVERED)
        events_log.record_event(session, row, "accept-submission", TOKEN)


async def timed(sessions: async_sessionmaker[AsyncSession], submissions: int, concurrency: int) -> float:
    """Seconds for ``submissions`` lives, ``concurrency`` at a time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(submissions):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            await life(sessions)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    """A fresh database URL for the run, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as root:
            yield f"sqlite+aiosqlite:///{Path(root) / 'bench.db'}"
        return
    name = f"xgw_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def amain(args: argparse.Namespace) -> None:
    results: dict[str, list[float]] = {"baseline": [], "audited": []}
    async with database(args.database) as url:
        engine, sessions = await open_database(url)
        try:
            async with sessions.begin() as session:
                session.add(Tenant(id="bench", name="Bench"))
                await session.flush()
                session.add(_destination())
            await timed(sessions, args.concurrency, args.concurrency)  # warm the pool
            for _ in range(args.runs):
                with without_audit():
                    results["baseline"].append(await timed(sessions, args.submissions, args.concurrency))
                results["audited"].append(await timed(sessions, args.submissions, args.concurrency))
        finally:
            await engine.dispose()
    base, audited = (statistics.median(results[k]) for k in ("baseline", "audited"))
    print(
        f"{args.database}: {args.submissions} submissions × {args.runs} runs, concurrency {args.concurrency}"
    )
    print(f"  without audit log: {args.submissions / base:8.1f} submissions/s")
    print(f"  with audit log:    {args.submissions / audited:8.1f} submissions/s")
    print(f"  time ratio audited/baseline: {audited / base:.2f}")


def _destination() -> Destination:
    fields: dict[str, Any] = {"metadata_versions": [], "reply_channels": {}, "services": []}
    return Destination(
        id=DESTINATION, tenant_id="bench", name="Bench", status="active", encryption_kid="k", **fields
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
