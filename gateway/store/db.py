"""Database engine: SQLite (WAL, full sync) by default, PostgreSQL when the URL says so.

``open_database`` creates the engine and brings the schema to the newest Alembic revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from gateway.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


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


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    async with engine.begin() as connection:
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
