"""The audit log: an append-only, hash-chained record of every state change.

An entry says who (``actor``: ``gateway``, a client id, ``operator:<name>``) did what
(``action``) to which submission, case and destination, with what ``outcome``, and holds ids,
ciphertext hashes and authentication tags as evidence (``detail``); never plaintext, never
secrets (free texts such as a park reason appear only as their SHA-256). Its ``hash`` is the
SHA-256 of the entry's canonical JSON (sorted keys, no blanks, UTF-8), which includes
``prev_hash``, the hash of the entry before it; the first entry's ``prev_hash`` is
:data:`GENESIS`. Sequence numbers have no gaps.

The store's hooks call :func:`record` inside the transaction of the change they record; the
entries are chained when that transaction commits (the session's ``before_commit``), so they
commit or roll back with the change. Appends are serialized: on PostgreSQL by
``pg_advisory_xact_lock(AUDIT_LOCK)``, taken after everything else the transaction writes, just
before the chain's head is read; on SQLite by its one write lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import event, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from gateway.store.db import create_engine
from gateway.store.models import AuditEntry, Submission, utcnow

__all__ = [
    "AUDIT_LOCK",
    "AuditLog",
    "GENESIS",
    "GATEWAY",
    "Break",
    "Entry",
    "acting",
    "Verdict",
    "entries_of",
    "entry_hash",
    "open_audit",
    "operator_action",
    "record",
    "sha256",
    "verify",
]

GATEWAY = "gateway"  #: the actor of what the gateway does on its own
GENESIS = "0" * 64  #: the ``prev_hash`` of the first entry
AUDIT_LOCK = 0x7867775F61756469  #: PostgreSQL advisory lock key of appends ("xgw_audi")
_PENDING = "audit_pending"
_ACTOR = "audit_actor"
#: The fields an entry's hash covers, in the order of its columns.
FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "submission_id",
    "case_id",
    "destination_id",
    "outcome",
    "detail",
    "prev_hash",
)


@dataclass(frozen=True)
class Entry:
    """What a hook records; ``case_id`` and ``destination_id`` are filled in from the submission
    when left out, ``actor`` from :func:`acting` (default :data:`GATEWAY`)."""

    action: str
    submission_id: str | None = None
    case_id: str | None = None
    destination_id: str | None = None
    outcome: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None


@dataclass(frozen=True)
class Break:
    """The first broken link of the chain: the entry's sequence number and what differs."""

    seq: int
    problem: str


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: how many entries hold, the hash of the last of them, and the
    first broken link (``None`` if the chain is intact)."""

    intact: int
    head: str
    broken: Break | None


def sha256(data: str | bytes) -> str:
    """The hex SHA-256 of ``data`` (a string as UTF-8)."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def acting(session: AsyncSession, actor: str) -> None:
    """Attribute the entries ``session`` records from now on to ``actor``."""
    session.sync_session.info[_ACTOR] = actor


def record(session: AsyncSession, entry: Entry) -> None:
    """Add ``entry`` to ``session``'s transaction: chained at its commit, dropped at rollback."""
    sync = session.sync_session
    if _PENDING not in sync.info:
        sync.info[_PENDING] = []
        event.listen(sync, "before_commit", _append)
        event.listen(sync, "after_transaction_end", _forget)
    sync.info[_PENDING].append(replace(entry, actor=entry.actor or sync.info.get(_ACTOR, GATEWAY)))


def operator_action(
    session: AsyncSession,
    operator: str,
    action: str,
    submission_id: str | None = None,
    outcome: str | None = None,
    **detail: Any,
) -> None:
    """Record what ``operator`` did (``operator.<action>``) and attribute the session's further
    changes, such as the step it takes, to ``operator:<operator>``."""
    acting(session, f"operator:{operator}")
    record(session, Entry(f"operator.{action}", submission_id, outcome=outcome, detail=detail))


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info[_PENDING].clear()


def _with_ids(session: Session, pending: list[Entry]) -> list[Entry]:
    """``pending`` with the case and destination ids of their submissions: from each other where
    one entry names them, else read (a lone delivery attempt or park)."""
    ids = {e.submission_id: (e.case_id, e.destination_id) for e in pending if e.case_id and e.destination_id}
    wanted = {e.submission_id for e in pending if e.submission_id and e.submission_id not in ids}
    if wanted:
        rows = session.execute(
            select(Submission.id, Submission.case_id, Submission.destination_id).where(
                Submission.id.in_(wanted)
            )
        )
        ids |= {sid: (case, destination) for sid, case, destination in rows}
    return [
        replace(
            e,
            case_id=e.case_id or ids[e.submission_id][0],
            destination_id=e.destination_id or ids[e.submission_id][1],
        )
        if e.submission_id in ids
        else e
        for e in pending
    ]


def _serialize(session: Session) -> None:
    """Hold off every other append until this transaction ends: PostgreSQL's advisory lock; on
    SQLite the one write lock, held since the transaction's first write, else taken by a write
    that changes nothing (the head would otherwise be read outside the write transaction)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    elif connection.dialect.name == "sqlite" and not getattr(
        connection.connection.driver_connection, "in_transaction", False
    ):
        session.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))


def _append(session: Session) -> None:
    """Chain the transaction's pending entries onto the head (see the module)."""
    pending: list[Entry] = session.info.get(_PENDING, [])
    if not pending:
        return
    session.flush()
    entries = _with_ids(session, pending)
    _serialize(session)
    head = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
    seq, prev = head.first() or (0, GENESIS)
    at, rows = utcnow(), []
    for entry in entries:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor": entry.actor,
            "action": entry.action,
            "submission_id": entry.submission_id,
            "case_id": entry.case_id,
            "destination_id": entry.destination_id,
            "outcome": entry.outcome,
            "detail": dict(entry.detail),
            "prev_hash": prev,
        }
        row["hash"] = prev = entry_hash(row)
        rows.append(row)
    session.execute(insert(AuditEntry), rows)
    pending.clear()


def _utc(at: dt.datetime) -> str:
    aware = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return aware.isoformat(timespec="microseconds")


def entry_hash(values: Mapping[str, Any]) -> str:
    """The hash of an entry with these ``values`` (:data:`FIELDS`; ``at`` as a datetime)."""
    canonical = {name: values[name] for name in FIELDS} | {"at": _utc(values["at"])}
    return sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _values(row: AuditEntry) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


async def verify(session: AsyncSession) -> Verdict:
    """Walk the whole chain in order of ``seq`` (in batches) up to its first broken link."""
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    expected, prev = 1, GENESIS
    async for row in await session.stream_scalars(query):
        if row.seq != expected:
            return Verdict(
                expected - 1, prev, Break(expected, f"entry {expected} is missing (the next is {row.seq})")
            )
        if row.prev_hash != prev:
            problem = f"prev_hash {row.prev_hash} differs from the hash of entry {row.seq - 1}, {prev}"
            return Verdict(expected - 1, prev, Break(row.seq, problem))
        computed = entry_hash(_values(row))
        if row.hash != computed:
            problem = f"its content does not match its hash: stored {row.hash}, computed {computed}"
            return Verdict(expected - 1, prev, Break(row.seq, problem))
        expected, prev = expected + 1, row.hash
    return Verdict(expected - 1, prev, None)


async def entries_of(session: AsyncSession, submission_id: str) -> list[AuditEntry]:
    """A submission's entries in order."""
    query = select(AuditEntry).where(AuditEntry.submission_id == submission_id).order_by(AuditEntry.seq)
    return list(await session.scalars(query))


@dataclass(frozen=True)
class AuditLog:
    """The audit log's reads on one session."""

    session: AsyncSession

    async def verify(self) -> Verdict:
        return await verify(self.session)

    async def entries_of(self, submission_id: str) -> list[AuditEntry]:
        return await entries_of(self.session, submission_id)


@asynccontextmanager
async def open_audit(url: str) -> AsyncIterator[AuditLog | None]:
    """The audit log of the database at ``url`` as it is (no migration), ``None`` if it has none
    yet; closed on exit."""
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            connection = await session.connection()
            found = await connection.run_sync(lambda sync: inspect(sync).has_table(AuditEntry.__tablename__))
            yield AuditLog(session) if found else None
    finally:
        await engine.dispose()
