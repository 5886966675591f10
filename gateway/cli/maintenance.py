"""``xgw destinations pause|resume ID``: the operations of :mod:`gateway.operations.maintenance`
on the configured database, as the local operator."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from gateway.cli.failure import Exit, Failure
from gateway.cli.parked import local_operator
from gateway.cli.preflight import load_settings, require_services
from gateway.errors import NotFoundError
from gateway.logging import configure_logging
from gateway.operations.maintenance import Maintenance
from gateway.store.pauses import Pauses

__all__ = ["add_destination_commands"]


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause (``pause``) or resume (``resume``) one destination's deliveries."""
    settings = load_settings(args.config)
    configure_logging(settings.log_format, settings.log_level)
    paused = args.action == "pause"

    async def run() -> None:
        await require_services(settings, broker=False)
        async with Pauses.open(settings.database) as pauses:
            await Maintenance(pauses).pause(local_operator(), args.destination, args.reason, paused=paused)

    try:
        asyncio.run(run())
    except NotFoundError as exc:
        raise Failure(exc.detail, Exit.PROBLEMS) from None
    print(f"destination {args.destination}: deliveries {'paused' if paused else 'resumed'}")
    return Exit.OK


def add_destination_commands(
    destinations: argparse._SubParsersAction[argparse.ArgumentParser],
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """The ``destinations`` subcommands, on the parent parser's ``command`` helper."""
    for name, help in (
        ("pause", "stop delivering (submissions wait, no attempt is spent)"),
        ("resume", "deliver again"),
    ):
        leaf = command(destinations, name, help, cmd_pause)
        leaf.add_argument("destination", help="destination id")
        leaf.add_argument("--reason", required=True, help="why (recorded in the audit log)")
