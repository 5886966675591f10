"""``xgw keys rotate|list|prune DESTINATION``: the operations of :mod:`gateway.operations.keys` on
the configured database and key directory, as the local operator (``$USER@cli`` in the audit
log). Running processes see a rotation at once: they read the current key from the database and
the private keys from the shared key directory.

``xgw keys rotate-wrap`` and ``prune-wrap``: the local key that wraps stored content keys
(:mod:`gateway.crypto.keywrap`). A rotation writes a new wrap key, current for every process
within a minute; pruning deletes the older wrap keys no stored wrapped key names any more."""

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
from gateway.crypto.keywrap import WrapKeys, created
from gateway.errors import ClientError
from gateway.logging import configure_logging
from gateway.operations.keys import DEFAULT_GRACE, KeyService, as_json, pinned_kids
from gateway.store.content_keys import wrap_kids_in_use
from gateway.store.db import open_database
from gateway.store.destination_keys import KeyRecords

__all__ = ["add_key_commands"]

T = TypeVar("T")
#: How long a superseded wrap key stays at least (processes pick up a rotation within a minute).
WRAP_GRACE = dt.timedelta(minutes=10)


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


def _wrap_keys(args: argparse.Namespace) -> WrapKeys:
    settings = load_settings(args.config)
    return WrapKeys(KeyStore(settings.keys_path).root / "gateway")


def cmd_rotate_wrap(args: argparse.Namespace) -> int:
    wrap = _wrap_keys(args)
    kids = wrap.kids()
    kid = wrap.rotate()
    if args.json:
        print(json.dumps({"kid": kid, "previous": kids[-1] if kids else None}))
    else:
        print(f"wrap key {kid} is current (was {kids[-1] if kids else '-'}); older ones still unwrap")
    return Exit.OK


def cmd_prune_wrap(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    wrap = WrapKeys(KeyStore(settings.keys_path).root / "gateway")

    async def in_use() -> frozenset[str]:
        await require_services(settings, broker=False)
        engine, sessions = await open_database(settings.database)  # migrated: the table exists
        try:
            return await wrap_kids_in_use(sessions)
        finally:
            await engine.dispose()

    kids = wrap.kids()  # listed before the database is asked: a key made meanwhile stays
    needed = asyncio.run(in_use())
    # The current key always stays, and so does a key superseded less than WRAP_GRACE ago (a
    # process may still wrap with it until it looks for a newer one, once a minute).
    settled = dt.datetime.now(dt.UTC) - WRAP_GRACE
    unused = [
        kid
        for kid, successor in zip(kids, kids[1:], strict=False)
        if kid not in needed and created(successor) < settled
    ]
    if not args.dry_run:
        for kid in unused:
            wrap.remove(kid)
    if args.json:
        print(json.dumps({"removed": unused, "kept": [k for k in kids if k not in unused]}))
    else:
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {len(unused)} wrap keys, kept {len(kids) - len(unused)}")
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
    rotate_wrap = command(
        keys,
        "rotate-wrap",
        "a new local key for wrapping stored content keys (old ones still unwrap)",
        cmd_rotate_wrap,
    )
    rotate_wrap.add_argument("--json", action="store_true", help="machine-readable output")
    prune_wrap = command(
        keys, "prune-wrap", "remove old content-key wrap keys no stored wrapped key names", cmd_prune_wrap
    )
    prune_wrap.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    prune_wrap.add_argument("--json", action="store_true", help="machine-readable output")
