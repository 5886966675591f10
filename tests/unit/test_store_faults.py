"""Which database failures a sender may retry (503, 507) and which stay bugs (500)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.errors import ServiceUnavailableError, StorageFullError
from gateway.store.faults import unavailable


@dataclass
class SqliteError(Exception):
    sqlite_errorcode: int


@dataclass
class PostgresError(Exception):
    sqlstate: str


def _dbapi(orig: Exception, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("UPDATE submissions", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (PoolTimeout("QueuePool limit reached"), ServiceUnavailableError),
        (ConnectionRefusedError(111, "Connection refused"), ServiceUnavailableError),
        (TimeoutError(), ServiceUnavailableError),
        (socket.gaierror(-2, "Name or service not known"), ServiceUnavailableError),
        (OperationalError("COMMIT", {}, SqliteError(5)), ServiceUnavailableError),  # busy: locked
        (OperationalError("SELECT", {}, SqliteError(14)), ServiceUnavailableError),  # cannot open
        (OperationalError("INSERT", {}, SqliteError(13)), StorageFullError),
        (_dbapi(PostgresError("08006")), ServiceUnavailableError),  # connection failure
        (_dbapi(PostgresError("57P01")), ServiceUnavailableError),  # admin shutdown
        (_dbapi(PostgresError("40P01")), ServiceUnavailableError),  # deadlock
        (_dbapi(PostgresError("53100")), StorageFullError),
        (_dbapi(Exception("connection is closed"), invalidated=True), ServiceUnavailableError),
        (_dbapi(ConnectionResetError()), ServiceUnavailableError),
    ],
)
def test_infrastructure_failures_are_retryable(exc: Exception, expected: type[Exception]) -> None:
    error = unavailable(exc)
    assert type(error) is expected
    assert error.retry_after_seconds > 0


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", {}, PostgresError("23505")),
        OperationalError("SELECT", {}, SqliteError(1)),  # no such table: a bug, not an outage
        _dbapi(PostgresError("42P01")),
        FileNotFoundError(2, "No such file or directory"),
        ValueError("invalid blob name"),
    ],
)
def test_other_failures_stay_unexpected(exc: Exception) -> None:
    assert unavailable(exc) is None


def test_a_full_disk_answers_507_and_asks_for_a_longer_wait() -> None:
    full, busy = StorageFullError("full"), ServiceUnavailableError("busy")
    assert (full.status, full.slug, busy.status, busy.slug) == (
        507,
        "storage-full",
        503,
        "service-unavailable",
    )
    assert full.retry_after_seconds > busy.retry_after_seconds
