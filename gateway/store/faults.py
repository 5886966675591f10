"""Which database failures are the infrastructure's (unreachable, reset, busy, full) rather than a bug.

The API answers these as ``service-unavailable`` (503) or ``storage-full`` (507) with
``Retry-After``; everything else stays an unexpected error (500). The blob store translates its
own disk errors (``gateway.store.blobs``).
"""

from __future__ import annotations

import socket

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.errors import ServiceUnavailableError, StorageFullError, UnavailableError

#: The exception classes worth asking :func:`unavailable` about.
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)

#: SQLite result codes (primary, the low byte): busy, locked, read-only, I/O error, cannot open;
#: full.
_SQLITE_BUSY = {5, 6, 8, 10, 14}
_SQLITE_FULL = 13
#: PostgreSQL SQLSTATEs: connection exception (08…), insufficient resources (53…), operator
#: intervention (57P…: shutdown, cannot connect now), serialization failure, deadlock, lock timeout,
#: a read-only transaction (a standby after failover) and a revoked privilege: writes refused, so
#: the request fails closed and may be retried once an operator restored them.
_PG_PREFIXES = ("08", "53", "57P")
_PG_CODES = {"40001", "40P01", "55P03", "25006", "42501"}
_PG_DISK_FULL = "53100"


def unavailable(exc: BaseException) -> UnavailableError | None:
    """The transient error ``exc`` means for a request, or ``None`` when it is not one."""
    if isinstance(exc, PoolTimeout):
        return ServiceUnavailableError("no database connection free")
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return ServiceUnavailableError(f"database unreachable: {exc}")
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlite_code is not None and sqlite_code & 0xFF == _SQLITE_FULL or sqlstate == _PG_DISK_FULL:
        return StorageFullError(f"database full: {orig}")
    if (
        exc.connection_invalidated
        or (sqlite_code is not None and sqlite_code & 0xFF in _SQLITE_BUSY)
        or (isinstance(sqlstate, str) and (sqlstate.startswith(_PG_PREFIXES) or sqlstate in _PG_CODES))
        or isinstance(orig, ConnectionError | TimeoutError)
    ):
        return ServiceUnavailableError(f"database failed: {type(orig).__name__}: {orig}")
    return None
