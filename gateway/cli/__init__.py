"""``xgw``: the operator's command line (serve, api/relay/worker, demo, config, keys, clients,
schemas, adapters, status, trace).

Known failures end in one line on stderr and an exit code from :class:`Exit`; ``--debug`` (or
``XGW_DEBUG=1``) shows the traceback as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

from gateway.cli import commands
from gateway.cli.failure import Exit, Failure
from gateway.cli.keys import add_key_commands
from gateway.cli.maintenance import add_destination_commands
from gateway.cli.parked import add_parked_commands

__all__ = ["Exit", "main"]


def _common() -> argparse.ArgumentParser:
    """``--config`` and ``--debug``, accepted before and after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's parser must not reset what was given before the subcommand
    common.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="TOML config file (or XGW_CONFIG)"
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks (or XGW_DEBUG=1)"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="xgw", description="xoev-gateway: FIT-Connect intake, XÖV validation, delivery", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"xgw {version('xoev-gateway')}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help: str,
        func: Callable[[argparse.Namespace], int],
        **defaults: object,
    ) -> argparse.ArgumentParser:
        leaf = parent.add_parser(name, help=help, parents=[common])
        leaf.set_defaults(func=func, **defaults)
        return leaf

    def group(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        return sub.add_parser(name, help=help).add_subparsers(dest="action", required=True)

    for name, help, func in (
        ("serve", "run the whole gateway in one process", commands.cmd_serve),
        (
            "api",
            "only the HTTP API (scale-out over RabbitMQ: run xgw relay and xgw worker too)",
            commands.cmd_api,
        ),
    ):
        http = command(sub, name, help, func)
        http.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
        http.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    command(sub, "relay", "only the outbox relay (needs XGW_AMQP_URL)", commands.cmd_stage, role="relay")
    command(
        sub, "worker", "only the stage consumers (needs XGW_AMQP_URL)", commands.cmd_stage, role="workers"
    )
    demo = command(
        sub, "demo", "send one real submission through the whole gateway and show it", commands.cmd_demo
    )
    demo.add_argument(
        "--port", type=int, default=None, help="port for the demo gateway (default: a free one)"
    )

    check = command(
        group("config", "configuration"),
        "check",
        "report every problem with its key path",
        commands.cmd_config_check,
    )
    check.add_argument(
        "--connect", action="store_true", help="also open the database, the broker and the key directory"
    )

    keys = group("keys", "destination keys: generate, rotate, list, prune")
    generate = command(
        keys,
        "generate",
        "new RSA-4096 encryption and signing keys for a destination",
        commands.cmd_keys_generate,
    )
    generate.add_argument("destination", help="destination id (uuid)")
    add_key_commands(keys, command)

    command(
        group("clients", "sender clients"),
        "secret",
        "a new client secret and its hash",
        commands.cmd_clients_secret,
    )

    schemas = group("schemas", "the XSD catalogue")
    command(schemas, "list", "every accepted schemaUri", commands.cmd_schemas)
    command(schemas, "check", "compile every set and report failures", commands.cmd_schemas)

    adapters = group("adapters", "installed adapters and the configured bindings")
    listing = command(
        adapters,
        "list",
        "installed adapters with their options schema",
        commands.cmd_adapters_list,
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    adapter_check = command(
        adapters, "check", "run every binding's check() and print each result", commands.cmd_adapters_check
    )
    adapter_check.add_argument("--destination", default=None, help="only this destination's bindings")
    new = command(
        adapters, "new", "a new adapter package that passes its own tests", commands.cmd_adapters_new
    )
    new.add_argument("name", help="adapter name, e.g. acme-dms")
    new.add_argument(
        "--directory", type=Path, default=None, help="where to create it (default ./xgw-adapter-NAME)"
    )

    status = command(sub, "status", "stages, destinations, backlog, outbox lag, queues", commands.cmd_status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="repeat (default 2 s)",
    )
    trace = command(sub, "trace", "one submission's timeline across every hop", commands.cmd_trace)
    trace.add_argument("reference", help="submission id or case id")
    trace.add_argument("--json", action="store_true", help="machine-readable output")

    add_parked_commands(group("parked", "parked submissions: list, show, replay, reject"), command)
    add_destination_commands(group("destinations", "pause and resume deliveries"), command)

    audit = group("audit", "the hash-chained audit log")
    command(audit, "verify", "check the whole chain; report the first broken link", commands.cmd_audit)
    command(audit, "show", "one submission's entries", commands.cmd_audit).add_argument(
        "submission", help="submission id"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    debug = getattr(args, "debug", False) or os.environ.get("XGW_DEBUG", "") not in ("", "0")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except Failure as failure:
        if debug:
            traceback.print_exc()
        print(f"error: {failure.message}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        first_line = next(iter(str(exc).splitlines()), "")
        print(
            f"error: unexpected {type(exc).__name__}: {first_line} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return Exit.INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
