"""Database engine: SQLite (WAL, full sync) by default, PostgreSQL when the URL says so.

``open_database`` creates the engine and brings the schema to the newest Alembic revision.

Every process (``xgw serve``, ``api``, ``relay``, ``worker``) migrates and writes the declared
configuration at start. Both steps hold the start-up lock for their transaction
(:func:`hold_startup_lock`), so processes started at the same moment on a new database take turns
instead of creating the same tables or rows twice; the later ones find the work done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
#: The PostgreSQL advisory lock key of the start-up steps (migrate, configuration sync): any
#: constant that no other application on the same database uses ("xgw" plus a version digit).
STARTUP_LOCK = 0x78677701


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def hold_startup_lock(connection: AsyncConnection | AsyncSession) -> None:
    """Wait for the start-up lock and hold it until the current transaction ends; call it as the
    transaction's first statement. PostgreSQL: ``pg_advisory_xact_lock``. SQLite: ``BEGIN
    IMMEDIATE`` (the write lock from the start, not at the first write, so a second process waits
    before it reads instead of failing on what the first one created meanwhile)."""
    bind = connection.get_bind() if isinstance(connection, AsyncSession) else connection
    if bind.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STARTUP_LOCK})
    elif bind.dialect.name == "sqlite":
        await connection.execute(text("BEGIN IMMEDIATE"))


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; one process at a time)."""
    async with engine.begin() as connection:
        await hold_startup_lock(connection)
        await connection.run_sync(_upgrade)


async def require_durable_commits(engine: AsyncEngine) -> None:
    """Refuse a PostgreSQL that may lose acknowledged commits (``fsync`` or
    ``synchronous_commit`` off): a submission is confirmed to its sender only after its commit.

    Raises ``ConfigError``.
    """
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as connection:
        for setting in ("fsync", "synchronous_commit"):
            value = (await connection.execute(text(f"SHOW {setting}"))).scalar_one()
            if value == "off":
                raise ConfigError(
                    f"PostgreSQL has {setting} = off: acknowledged submissions could be lost", path=setting
                )


async def open_database(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """The engine and session factory, on a migrated schema; raises ``ConfigError`` for a
    database that does not guarantee durable commits."""
    engine = create_engine(url)
    try:
        await require_durable_commits(engine)
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine, async_sessionmaker(engine, expire_on_commit=False)
