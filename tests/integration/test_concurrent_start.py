"""Processes started at the same moment on a new database (``xgw api``, ``relay`` and workers
rolled out together) each migrate and write the declared configuration; they take turns
(PostgreSQL: an advisory lock) instead of failing with an ``IntegrityError`` or a duplicate table."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import ACTIVE, SECRET
from tests.faults.cluster import write_config

pytestmark = [pytest.mark.blank_database, pytest.mark.timeout(180)]

PROCESSES = 4

#: What each process does at start before its role begins (gateway.app.open_gateway), at an agreed
#: moment so that the starts overlap.
START = """
import asyncio, sys, time
from gateway.config.settings import Settings
from gateway.config.sync import sync_config
from gateway.crypto.keys import KeyStore
from gateway.store.db import open_database

settings = Settings.load(None)
at = float(sys.argv[1])

async def start() -> None:
    engine, sessions = await open_database(settings.database)
    try:
        await sync_config(sessions, settings, KeyStore(settings.keys_path))
    finally:
        await engine.dispose()

time.sleep(max(0.0, at - time.time()))
asyncio.run(start())
print("started")
"""


async def test_processes_started_together_on_a_new_database_all_start(
    database_url: str, tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]
) -> None:
    shutil.copytree(key_template, tmp_path / "keys")
    config = tmp_path / "xgw.toml"
    write_config(config, "http://127.0.0.1:9/", secret_hashes[SECRET])
    env = {
        "XGW_CONFIG": str(config),
        "XGW_DATABASE_URL": database_url,
        "XGW_DATA_DIR": str(tmp_path / "data"),
        "XGW_KEY_DIR": str(tmp_path / "keys"),
        "PATH": "/usr/bin:/bin",
    }
    at = time.time() + 5.0  # after every interpreter has imported the gateway
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            START,
            str(at),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [(await proc.communicate())[0].decode() for proc in procs]
    failed = [out[-1500:] for proc, out in zip(procs, outputs, strict=True) if proc.returncode != 0]
    assert not failed, "\n---\n".join(failed)

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            destinations = (await connection.execute(text("SELECT id FROM destinations"))).scalars().all()
            clients = (await connection.execute(text("SELECT id FROM clients"))).scalars().all()
    finally:
        await engine.dispose()
    assert destinations == [ACTIVE] and clients == ["portal"]
