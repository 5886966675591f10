"""The floor for the submit call: a FastAPI app with the HTTP shape of ``PUT /v1/submissions/{id}``
that does only the unavoidable work of it.

Per request: the body is streamed to a new file and fsynced; one row is inserted and committed
durably (SQLite in WAL mode with ``synchronous=FULL`` as the gateway runs it, or PostgreSQL with
its default ``synchronous_commit``); one PS512 signature (RSA-4096, ``gateway.crypto.jws``) over
a submit-submission SET of the same shape and size as the gateway's, in a worker thread; the
answer is the gateway's JSON reference. No authentication, no JWE checks, no outbox, no audit.

Configured by environment: ``BENCH_MINIMAL_DIR`` (blob directory and SQLite file) and
``BENCH_MINIMAL_DSN`` (a ``postgresql://`` DSN; without it SQLite). Served by uvicorn::

    uvicorn --app-dir bench/e2e_kit minimal_app:app --http httptools --no-access-log
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from gateway.crypto.jws import sign_ps512
from gateway.events.sets import SetSigner

ROOT = Path(os.environ.get("BENCH_MINIMAL_DIR", "minimal-data"))
DSN = os.environ.get("BENCH_MINIMAL_DSN")
DESTINATION = os.environ.get("BENCH_MINIMAL_DESTINATION", str(uuid.uuid4()))
INSERT_PG = "INSERT INTO minimal_submission (id, blob, size) VALUES ($1, $2, $3)"
INSERT_SQLITE = "INSERT INTO minimal_submission (id, blob, size) VALUES (?, ?, ?)"
CREATE = "CREATE TABLE IF NOT EXISTS minimal_submission (id TEXT PRIMARY KEY, blob TEXT, size INTEGER)"

state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    (ROOT / "blobs").mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    state["signer"] = SetSigner("http://127.0.0.1", "minimal-kid", key)
    if DSN:
        import asyncpg

        pool = await asyncpg.create_pool(DSN, min_size=2, max_size=10)
        await pool.execute(CREATE)
        state["pg"] = pool
        yield
        await pool.close()
    else:
        import aiosqlite

        db = await aiosqlite.connect(ROOT / "minimal.db")
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute(CREATE)
        await db.commit()
        state["sqlite"] = db
        yield
        await db.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.put("/v1/submissions/{submission_id}")
async def submit(submission_id: str, request: Request) -> dict[str, str]:
    blob = ROOT / "blobs" / uuid.uuid4().hex
    size = 0
    with blob.open("wb") as out:
        async for chunk in request.stream():
            out.write(chunk)
            size += len(chunk)
        out.flush()
        await run_in_threadpool(os.fsync, out.fileno())  # as the gateway's blob store: off the loop
    row = (submission_id, blob.name, size)
    if "pg" in state:
        await state["pg"].execute(INSERT_PG, *row)
    else:
        db = state["sqlite"]
        await db.execute(INSERT_SQLITE, row)
        await db.commit()
    signer: SetSigner = state["signer"]
    case_id = str(uuid.uuid4())
    tags = {"metadata": "A" * 22, "data": "B" * 22, "attachments": {str(uuid.uuid4()): "C" * 22}}
    claims = signer.claims("submit-submission", submission_id, case_id, {"authenticationTags": tags})
    await run_in_threadpool(sign_ps512, signer.key, {"kid": signer.kid, "typ": "secevent+jwt"}, claims)
    return {"destinationId": DESTINATION, "submissionId": submission_id, "caseId": case_id}
