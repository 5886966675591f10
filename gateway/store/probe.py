"""Before anything starts: is the database URL usable, and does the database answer?

Each check returns one line a person can act on (what is wrong, where, what to do), or ``None``.
The line names host, port and database, never the password.
"""

from __future__ import annotations

import asyncio
import socket

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gateway.errors import ConfigError
from gateway.store.db import create_engine, require_durable_commits

#: The async drivers the gateway runs on, by URL scheme.
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

#: PostgreSQL SQLSTATE → what it means for the operator.
_SQLSTATES = {
    "3D000": "{detail}: create it (createdb -h {host} -p {port} {database}) or fix database_url",
    "28000": "{detail}: authentication refused on {where}; check the user in database_url",
    "28P01": "{detail}: wrong password for {where}; check database_url",
}

#: How long a check waits for an answer.
CONNECT_SECONDS = 10.0


def url_problem(url: str) -> str | None:
    """A database URL the gateway cannot use, judged without connecting."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "not a database URL: expected postgresql+asyncpg://user@host:5432/db or sqlite+aiosqlite:///file.db"
    if parsed.drivername in DRIVERS:
        return None
    if parsed.get_backend_name() == "postgresql":
        fixed = parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=True)
        return f"driver {parsed.drivername!r} is not supported: write {fixed} (the gateway runs on asyncpg)"
    if parsed.get_backend_name() == "sqlite":
        return f"driver {parsed.drivername!r} is not supported: write sqlite+aiosqlite:///path/to/file.db"
    return f"{parsed.get_backend_name()!r} is not supported: use PostgreSQL or SQLite"


def describe(url: str) -> str:
    """Where the database is, for a start banner (no user, no password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(invalid database_url)"
    kind = "" if parsed.get_backend_name() == "sqlite" else "PostgreSQL "
    return kind + _where(parsed)


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _sqlstate(exc: BaseException) -> tuple[str, str] | None:
    """The first SQLSTATE in an exception chain, with its driver's message."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state, str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _explain(url: URL, exc: BaseException) -> str:
    where = _where(url)
    coded = _sqlstate(exc)
    if coded is not None:
        state, detail = coded
        template = _SQLSTATES.get(state, "{detail} (SQLSTATE {state}) on {where}")
        return template.format(
            detail=detail,
            state=state,
            where=where,
            host=url.host or "localhost",
            port=url.port or 5432,
            database=url.database or "",
        )
    if isinstance(exc, socket.gaierror):
        return f"unknown database host {url.host!r}: check database_url"
    if isinstance(exc, TimeoutError):
        return f"no answer from the database at {where} within the timeout: check host, port and firewall"
    if isinstance(exc, OSError):
        return f"cannot reach the database at {where} ({exc.strerror or exc}): is PostgreSQL running there?"
    if isinstance(exc, ConfigError):
        return f"{exc} ({where})"
    if url.get_backend_name() == "sqlite":
        return f"cannot open the {where}: check that data_dir exists and is writable"
    return f"database at {where}: {type(exc).__name__}: {exc}"


async def database_problem(url: str) -> str | None:
    """Open the database and ask it one question; the reason in one line if that fails."""
    problem = url_problem(url)
    if problem is not None:
        return problem
    parsed = make_url(url)
    try:
        engine = create_engine(url)
    except OSError as exc:  # SQLite: the data directory cannot be created
        return f"cannot create the directory for the {_where(parsed)}: {exc.strerror or exc}"
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            await require_durable_commits(engine)
    except Exception as exc:
        return _explain(parsed, exc)
    finally:
        await engine.dispose()
    return None
