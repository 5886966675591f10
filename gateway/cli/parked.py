"""``xgw parked list|show|replay|reject``: the operations of :mod:`gateway.operations.parked` on
the configured database, as the local operator (``$USER@cli`` in the audit log)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from rich.progress import Progress
from rich.table import Table

from gateway.app import Libraries
from gateway.cli.failure import Exit, Failure
from gateway.cli.operations import age, console
from gateway.cli.preflight import load_settings, require_services
from gateway.config.embedded import with_embedded_tenant
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.errors import NotFoundError
from gateway.logging import configure_logging
from gateway.operations.parked import Operator, ParkedService, ReplayResult, as_json
from gateway.store.blobs import BlobStore
from gateway.store.parked import ParkedFilter, ParkedStore, ParkedSubmission

__all__ = ["add_parked_commands"]

T = TypeVar("T")


def local_operator() -> Operator:
    """The person at this terminal, unrestricted (they hold the configuration and the database)."""
    return Operator(f"{getpass.getuser()}@cli")


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[ParkedService]:
    """The service on the configured database (exit 3 if it cannot be reached)."""
    await require_services(settings, broker=False)
    schemas = Libraries.load().schemas(settings, warm=False)
    async with ParkedStore.open(settings.database) as store:
        yield ParkedService(
            store, BlobStore(settings.blobs_path), KeyStore(settings.keys_path), schemas, settings.limits
        )


def _filter(args: argparse.Namespace) -> ParkedFilter:
    since = None
    if args.since is not None:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            raise Failure(f"--since {args.since!r}: not an ISO 8601 time", Exit.CONFIG) from None
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    return ParkedFilter(
        submission_id=getattr(args, "submission", None),
        destination_id=args.destination,
        adapter=args.adapter,
        error=args.error,
        since=since,
    )


def _table(items: list[ParkedSubmission]) -> Table:
    now = dt.datetime.now(dt.UTC)
    table = Table(box=None, pad_edge=False)
    for column in ("submission", "destination", "parked", "attempts", "adapter", "code", "reason"):
        table.add_column(column, justify="right" if column == "attempts" else "left")
    for p in items:
        table.add_row(
            p.submission_id,
            p.destination_id,
            f"{age(now, p.parked_at)} ago",
            str(p.attempts),
            p.adapter or "-",
            p.code or "-",
            p.reason[:120],
        )
    return table


def _run(args: argparse.Namespace, work: Callable[[ParkedService], Awaitable[T]]) -> T:
    settings, _demo = with_embedded_tenant(load_settings(args.config))
    configure_logging(settings.log_format, settings.log_level)  # to stderr; stdout is the answer

    async def run() -> T:
        async with _service(settings) as service:
            return await work(service)

    try:
        return asyncio.run(run())
    except NotFoundError as exc:
        raise Failure(exc.detail, Exit.PROBLEMS) from None


def cmd_list(args: argparse.Namespace) -> int:
    items = _run(args, lambda s: s.find(local_operator(), _filter(args)))
    if args.json:
        print(json.dumps([as_json(p) for p in items]))
    else:
        console().print(_table(items) if items else "no parked submissions")
    return Exit.OK


def cmd_show(args: argparse.Namespace) -> int:
    item = _run(args, lambda s: s.show(local_operator(), args.submission))
    if args.json:
        print(json.dumps(as_json(item), indent=2))
    else:
        for key, value in as_json(item).items():
            print(f"{key:<15} {value if value is not None else '-'}")
    return Exit.OK


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay one submission or every one matching the filters; exit 1 if any failed its check."""
    filters = (args.destination, args.adapter, args.error, args.since, args.all)
    if args.submission is None and not any(filters):
        raise Failure(
            "name a submission, a filter (--destination, --adapter, --error, --since) or --all", Exit.CONFIG
        )
    with Progress(console=console(), transient=True, disable=args.json) as bar:
        task = bar.add_task("replaying" if not args.dry_run else "checking", total=None)

        def advance(result: ReplayResult) -> None:
            bar.advance(task)
            if not args.json:
                bar.console.print(f"{result.submission_id}  {result.outcome}  {' '.join(result.problems)}")

        results = _run(
            args,
            lambda s: s.replay(
                local_operator(), _filter(args), args.reason, dry_run=args.dry_run, progress=advance
            ),
        )
    if args.json:
        print(json.dumps([as_json(r) for r in results]))
    else:
        counts = {o: sum(r.outcome == o for r in results) for o in dict.fromkeys(r.outcome for r in results)}
        print(", ".join(f"{n} {o}" for o, n in counts.items()) or "no parked submissions matched")
    return Exit.PROBLEMS if any(r.outcome == "failed-check" for r in results) else Exit.OK


def cmd_reject(args: argparse.Namespace) -> int:
    item = _run(args, lambda s: s.reject(local_operator(), args.submission, args.reason))
    print(f"rejected {item.submission_id}: the sender has a reject-submission (technical-error)")
    return Exit.OK


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--destination", default=None, help="only this destination's submissions")
    parser.add_argument("--adapter", default=None, help="only those whose last attempt ran this adapter")
    parser.add_argument("--error", default=None, help="a text in the park reason or the vendor's code")
    parser.add_argument("--since", default=None, help="parked at or after this ISO 8601 time")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_parked_commands(
    parked: argparse._SubParsersAction[argparse.ArgumentParser],
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """The ``parked`` subcommands, on the parent parser's ``command`` helper."""
    _filters(command(parked, "list", "parked submissions, longest parked first", cmd_list))
    show = command(parked, "show", "one parked submission", cmd_show)
    show.add_argument("submission", help="submission id")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    replay = command(parked, "replay", "check again and re-queue for delivery", cmd_replay)
    replay.add_argument("submission", nargs="?", default=None, help="one submission (else the filters)")
    _filters(replay)
    replay.add_argument("--all", action="store_true", help="every parked submission")
    replay.add_argument("--dry-run", action="store_true", help="only check; change nothing")
    replay.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    reject = command(parked, "reject", "reject with technical-error; the sender is told", cmd_reject)
    reject.add_argument("submission", help="submission id")
    reject.add_argument("--reason", required=True, help="why (recorded in the audit log)")
