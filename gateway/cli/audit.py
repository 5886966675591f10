"""``xgw audit verify`` (the whole chain, up to its first broken link) and ``xgw audit show``
(one submission's entries)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.cli.failure import Exit, Failure
from gateway.cli.preflight import require_services
from gateway.config.settings import Settings
from gateway.store import audit
from gateway.store.models import AuditEntry

__all__ = ["show", "verify"]


@asynccontextmanager
async def _audit_log(settings: Settings) -> AsyncIterator[audit.AuditLog]:
    """The configured database's audit log: exit 3 if it cannot be reached or has none."""
    await require_services(settings, broker=False)
    async with audit.open_audit(settings.database) as log:
        if log is None:
            raise Failure("database_url: no audit log yet: start the gateway once (xgw serve)", Exit.DATABASE)
        yield log


def verify(settings: Settings) -> int:
    """Exit 0 with the head of an intact chain, 1 with the first broken link."""

    async def run() -> audit.Verdict:
        async with _audit_log(settings) as log:
            return await log.verify()

    verdict = asyncio.run(run())
    if verdict.broken is not None:
        print(
            f"error: audit log broken at entry {verdict.broken.seq}: {verdict.broken.problem}"
            f" ({verdict.intact} entries before it are intact)",
            file=sys.stderr,
        )
        return Exit.PROBLEMS
    print(f"ok: {verdict.intact} entries, chain intact; head {verdict.head}")
    return Exit.OK


def _line(entry: AuditEntry) -> str:
    detail = json.dumps(entry.detail, sort_keys=True, ensure_ascii=False)
    when = entry.at.isoformat(timespec="milliseconds")
    return f"{entry.seq:>8}  {when}  {entry.actor}  {entry.action}  {entry.outcome or '-'}  {detail}"


def show(settings: Settings, submission_id: str) -> int:
    """A submission's entries, one line each; exit 1 if it has none."""

    async def run() -> list[AuditEntry]:
        async with _audit_log(settings) as log:
            return await log.entries_of(submission_id)

    entries = asyncio.run(run())
    if not entries:
        raise Failure(f"no audit entries for submission {submission_id}", Exit.PROBLEMS)
    first = entries[0]
    print(f"submission {submission_id} · case {first.case_id} · destination {first.destination_id}")
    for entry in entries:
        print(_line(entry))
    return Exit.OK
