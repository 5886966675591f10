"""The ``xgw`` subcommands. Each takes the parsed arguments and returns an exit code, or raises
:class:`~gateway.cli.failure.Failure` for a known problem."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.adapters.host import CheckResult
from gateway.app import Libraries, create_app, open_gateway, topology_of
from gateway.cli.banner import banner
from gateway.cli.failure import Exit, Failure
from gateway.cli.preflight import (
    config_problems,
    load_settings,
    require_free_port,
    require_key_directory,
    require_services,
    require_valid,
    xgw_command,
)
from gateway.config.embedded import with_embedded_tenant
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret, new_client_secret
from gateway.logging import configure_logging
from gateway.operations.trace import Timeline
from gateway.store.readmodel import ReadModel

#: Why ``xgw api`` will not run on the in-process broker.
API_NEEDS_BROKER = (
    "xgw api alone on the in-process broker would accept submissions that nothing ever processes: "
    "set XGW_AMQP_URL (and run xgw relay and xgw worker), or run xgw serve"
)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        run_stages=getattr(args, "run_stages", None),
    )


def _prepared(args: argparse.Namespace, role: str, *, http: bool, broker: bool) -> tuple[Settings, Libraries]:
    """Settings checked end to end before anything starts, and the start banner printed."""
    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    settings, demo = with_embedded_tenant(settings)
    libraries = Libraries.load()
    require_valid(settings, libraries, xgw_command(args.config))
    if http:
        require_free_port(settings.host, settings.port)
    require_key_directory(settings)
    asyncio.run(require_services(settings, broker=broker))
    print(banner(settings, demo, role, http=http), flush=True)
    return settings, libraries


def _serve_http(settings: Settings, libraries: Libraries) -> None:
    from gateway.server import serve

    serve(create_app(settings, libraries), settings)


def cmd_serve(args: argparse.Namespace) -> int:
    """The whole gateway in one process."""
    _serve_http(*_prepared(args, "serve", http=True, broker=True))
    return Exit.OK


def cmd_api(args: argparse.Namespace) -> int:
    """The HTTP API alone (intake): relay and workers run as their own processes."""
    args.run_stages = False
    settings = _settings(args)
    if settings.amqp_url is None:
        raise Failure(API_NEEDS_BROKER, Exit.CONFIG)
    _serve_http(*_prepared(args, "api", http=True, broker=False))
    return Exit.OK


def cmd_stage(args: argparse.Namespace) -> int:
    """``xgw relay`` / ``xgw worker``: one stage role without HTTP, until SIGINT/SIGTERM."""
    import signal

    if _settings(args).amqp_url is None:
        raise Failure(
            f"xgw {args.command} runs beside other processes only over RabbitMQ: set XGW_AMQP_URL",
            Exit.CONFIG,
        )
    settings, libraries = _prepared(args, args.command, http=False, broker=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_gateway(settings, frozenset({args.role}), libraries):
            await stop.wait()

    asyncio.run(run())
    return Exit.OK


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    settings = _settings(args)
    configure_logging(settings.log_format, "warning")
    if args.port is not None:
        require_free_port("127.0.0.1", args.port)
    asyncio.run(require_services(settings, broker=True))
    return asyncio.run(run_demo(settings, port=args.port))


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problems = config_problems(settings, Libraries.load(), xgw_command(args.config))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return Exit.PROBLEMS
    if args.connect:
        asyncio.run(require_services(settings, broker=True))
        require_key_directory(settings)
        failed = [r for r in _adapter_checks(settings, None) if not r.ok]
        for result in failed:
            print(
                f"error: destination {result.destination}, service {result.service}: "
                f"adapter {result.adapter}: {result.problem}",
                file=sys.stderr,
            )
        if failed:
            return Exit.PROBLEMS
    reached = _reached(settings) if args.connect else "not connected (--connect also checks them)"
    print(f"ok: {len(settings.tenants)} tenants, {len(settings.clients)} clients; {reached}")
    return Exit.OK


def _reached(settings: Settings) -> str:
    checked = [
        "database",
        "RabbitMQ" if settings.amqp_url else "",
        "key directory" if settings.tenants else "",
    ]
    adapters = ", adapter checks passed" if settings.tenants else ""
    return ", ".join(c for c in checked if c) + " reachable" + adapters


def cmd_keys_generate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        destination = str(uuid.UUID(args.destination))
    except ValueError:
        raise Failure(f"not a destination id (uuid): {args.destination!r}", Exit.CONFIG) from None
    keys = KeyStore(settings.keys_path)
    for purpose in ("encryption", "signing"):
        pair = keys.generate(destination, purpose)
        print(f"{purpose:10} kid={pair.kid}")
    print(f"private keys in {keys.root / destination} (0600); restart to publish the new encryption key")
    if args.config is None:
        print("note: no --config given: this is the default key directory; pass --config FILE for another")
    return Exit.OK


def cmd_clients_secret(args: argparse.Namespace) -> int:
    secret = new_client_secret()
    print(f"client secret (give it to the sender, it is not stored): {secret}")
    print(f'secret_hash = "{hash_secret(secret)}"')
    return Exit.OK


def cmd_schemas(args: argparse.Namespace) -> int:
    from gateway.validation import check_schemas, default_schema_root, list_schemas

    if args.action == "list":
        print(list_schemas(default_schema_root()))
        return Exit.OK
    ok, report = check_schemas(default_schema_root())
    print(report)
    return Exit.OK if ok else Exit.PROBLEMS


def _adapter_checks(settings: Settings, destination: str | None) -> list[CheckResult]:
    from gateway.adapters.commands import check_adapters
    from gateway.adapters.host import AdapterRegistry

    return asyncio.run(check_adapters(AdapterRegistry.discover(), settings.tenants, destination=destination))


def cmd_adapters_check(args: argparse.Namespace) -> int:
    """Every binding's ``check()`` (or one destination's), as the workers run it at start."""
    from gateway.adapters.commands import render_checks

    settings, _demo = with_embedded_tenant(_settings(args))
    results = _adapter_checks(settings, args.destination)
    print(render_checks(results))
    return Exit.OK if all(r.ok for r in results) else Exit.PROBLEMS


def cmd_adapters_list(args: argparse.Namespace) -> int:
    from gateway.adapters.commands import list_adapters
    from gateway.adapters.host import AdapterRegistry

    print(list_adapters(AdapterRegistry.discover(), as_json=args.json))
    return Exit.OK


def cmd_adapters_new(args: argparse.Namespace) -> int:
    """A separately installable adapter package, ready to install and test."""
    from gateway.adapters.scaffold import scaffold
    from gateway.errors import ConfigError

    try:
        made = scaffold(args.name, args.directory)
    except ConfigError as exc:
        raise Failure(exc.detail, Exit.CONFIG) from None
    print(f"created {made.root}: adapter {made.names.name} in package {made.names.module}")
    for path in made.files:
        print(f"  {path.relative_to(made.root)}")
    print(f"next: pip install -e '{made.root}[test]' && pytest {made.root}")
    return Exit.OK


@asynccontextmanager
async def _read_model(settings: Settings) -> AsyncIterator[ReadModel]:
    """The read model on the configured database: exit 3 if it cannot be reached or has no
    gateway tables yet."""
    await require_services(settings, broker=False)
    async with ReadModel.open(settings.database) as read:
        if not await read.has_schema():
            raise Failure(
                "database_url: no gateway tables yet: start the gateway once (xgw serve)", Exit.DATABASE
            )
        yield read


def cmd_status(args: argparse.Namespace) -> int:
    """Stages, destinations and their backlog, outbox lag, queues; once, or every ``--watch`` s."""
    import json

    from gateway.cli.operations import console, render_status
    from gateway.operations.status import read_status

    settings = _settings(args)
    url = settings.amqp_url.get_secret_value() if settings.amqp_url else None
    out = console()

    async def run() -> None:
        async with _read_model(settings) as read:
            while True:
                status = await read_status(read, topology_of(settings), url)
                if args.json:
                    print(json.dumps(status.as_json()), flush=True)
                else:
                    if args.watch is not None:
                        out.clear()
                    out.print(render_status(status))
                if args.watch is None:
                    return
                await asyncio.sleep(max(args.watch, 0.2))

    asyncio.run(run())
    return Exit.OK


def cmd_trace(args: argparse.Namespace) -> int:
    """One submission's (or case's) timeline; exit 1 if there is none."""
    import json

    from gateway.cli.operations import console, render_timeline
    from gateway.errors import NotFoundError
    from gateway.operations.trace import read_timeline

    settings = _settings(args)

    async def run() -> Timeline:
        async with _read_model(settings) as read:
            return await read_timeline(read, args.reference)

    try:
        timeline = asyncio.run(run())
    except NotFoundError as exc:
        raise Failure(exc.detail, Exit.PROBLEMS) from None
    if args.json:
        print(json.dumps(timeline.as_json(), indent=2))
    else:
        console().print(render_timeline(timeline))
    return Exit.OK


def cmd_audit(args: argparse.Namespace) -> int:
    """``xgw audit verify``: exit 1 at the first broken link; ``xgw audit show SUBMISSION``."""
    from gateway.cli.audit import show, verify

    settings = _settings(args)
    return verify(settings) if args.action == "verify" else show(settings, args.submission)
