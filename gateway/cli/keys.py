"""``xgw keys rotate|list|prune DESTINATION``: the operations of :mod:`gateway.operations.keys` on
the configured database and key directory, as the local operator (``$USER@cli`` in the audit
log). Running processes see a rotation at once: they read the current key from the database and
the private keys from the shared key directory."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rich.table import Table

from gateway.cli.failure import Exit, Failure
from gateway.cli.operations import age, console
from gateway.cli.parked import local_operator
from gateway.cli.preflight import load_settings, require_services
from gateway.config.model import parse_duration
from gateway.crypto.keys import KeyStore
from gateway.errors import ClientError
from gateway.logging import configure_logging
from gateway.operations.keys import DEFAULT_GRACE, KeyService, as_json, pinned_kids
from gateway.store.destination_keys import KeyRecords

__all__ = ["add_key_commands"]

T = TypeVar("T")


def _run(args: argparse.Namespace, work: Callable[[KeyService], Awaitable[T]]) -> T:
    settings = load_settings(args.config)
    configure_logging(settings.log_format, settings.log_level)  # to stderr; stdout is the answer

    async def run() -> T:
        await require_services(settings, broker=False)
        async with KeyRecords.open(settings.database) as records:
            return await work(KeyService(records, KeyStore(settings.keys_path), pinned_kids(settings)))

    try:
        return asyncio.run(run())
    except ClientError as exc:  # unknown destination, pinned key
        raise Failure(exc.detail, Exit.PROBLEMS) from None


def cmd_rotate(args: argparse.Namespace) -> int:
    rotation = _run(args, lambda s: s.rotate(local_operator(), args.destination, args.reason, args.use))
    if args.json:
        print(json.dumps(as_json(rotation)))
        return Exit.OK
    was = rotation.previous or "-"
    print(f"{rotation.use} key of {rotation.destination_id}: kid={rotation.kid} (was {was})")
    if rotation.use == "encryption":
        print("published as current; the old key still decrypts until `xgw keys prune` removes it")
    return Exit.OK


def cmd_list(args: argparse.Namespace) -> int:
    keys = _run(args, lambda s: s.published(local_operator(), args.destination))
    if args.json:
        print(json.dumps([as_json(k) for k in keys]))
        return Exit.OK
    now = dt.datetime.now(dt.UTC)
    table = Table(box=None, pad_edge=False)
    for column in ("kid", "use", "created", "current", "retired", "in flight"):
        table.add_column(column, justify="right" if column == "in flight" else "left")
    for k in keys:
        table.add_row(
            k.kid,
            k.purpose,
            k.created[:19],
            "yes" if k.current else "",
            f"{age(now, k.retired_at)} ago" if k.retired_at else "",
            "" if k.in_flight is None else str(k.in_flight),
        )
    console().print(table)
    return Exit.OK


def cmd_prune(args: argparse.Namespace) -> int:
    try:
        grace = parse_duration(args.grace)
    except ValueError as exc:
        raise Failure(f"--grace: {exc}", Exit.CONFIG) from None
    results = _run(
        args,
        lambda s: s.prune(local_operator(), args.destination, args.reason, grace=grace, dry_run=args.dry_run),
    )
    if args.json:
        print(json.dumps([as_json(r) for r in results]))
        return Exit.OK
    for r in results:
        why = {
            "needed": f"{r.in_flight} submissions in flight may need it",
            "recent": f"retired < {args.grace}",
        }
        print(f"{r.kid}  {r.outcome}  {why.get(r.outcome, '')}".rstrip())
    if not results:
        print("no retired encryption keys")
    return Exit.OK


def add_key_commands(
    keys: argparse._SubParsersAction[argparse.ArgumentParser],
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """The ``keys`` subcommands besides ``generate``, on the parent parser's ``command`` helper."""
    rotate = command(
        keys, "rotate", "a new key, published as current at once (the old one still decrypts)", cmd_rotate
    )
    rotate.add_argument("destination", help="destination id")
    rotate.add_argument(
        "--use",
        choices=("encryption", "signing"),
        default="encryption",
        help="which key (default encryption)",
    )
    rotate.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    rotate.add_argument("--json", action="store_true", help="machine-readable output")
    listing = command(
        keys, "list", "published keys: current, retired, in flight that may need them", cmd_list
    )
    listing.add_argument("destination", help="destination id")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    prune = command(keys, "prune", "remove retired encryption keys nothing in flight needs", cmd_prune)
    prune.add_argument("destination", help="destination id")
    prune.add_argument(
        "--grace",
        default=f"{int(DEFAULT_GRACE.total_seconds() // 3600)}h",
        help="keep keys retired less than this long, e.g. 24h, 3d, 0s (default 24h)",
    )
    prune.add_argument("--dry-run", action="store_true", help="only say what would be pruned")
    prune.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    prune.add_argument("--json", action="store_true", help="machine-readable output")
