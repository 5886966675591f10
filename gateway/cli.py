"""``xgw``: the operator's command line (serve, config check, keys, clients, schemas)."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from gateway.app import Libraries, create_app, open_gateway
from gateway.config.check import ConfigProblem, check_settings, validation_problems
from gateway.config.embedded import with_embedded_tenant
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret, new_client_secret
from gateway.logging import configure_logging


def _load(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k in ("host", "port", "run_stages") if (v := getattr(args, k, None)) is not None}
    try:
        return Settings.load(args.config, **overrides)
    except ValidationError as exc:
        _print_problems(validation_problems(exc))
        raise SystemExit(2) from exc


def _print_problems(problems: Sequence[ConfigProblem]) -> None:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)


def with_embedded_default(settings: Settings) -> Settings:
    """Without declared tenants, add the demo tenant and client and print how to use them."""
    settings, demo = with_embedded_tenant(settings)
    if demo is not None:
        print(
            "No tenants configured: serving the embedded demo tenant.\n"
            f"  destination id : {demo.destination_id}\n"
            f"  client id      : {demo.client.id}\n"
            f"  client secret  : {demo.client_secret}\n"
            f"  token URL      : {settings.public_url}/token\n"
            f"  API            : {settings.public_url}/v1  (and /v2; OpenAPI at {settings.public_url}/docs)\n"
            f"  deliveries     : {settings.data_dir / 'delivered'}",
            flush=True,
        )
    return settings


def _check(settings: Settings, libraries: Libraries) -> list[ConfigProblem]:
    """Every configuration problem, including schemas the catalogue lacks."""
    from gateway.routing.bindings import binding_problem

    return check_settings(
        settings,
        KeyStore(settings.keys_path),
        knows_schema=libraries.catalogue.knows,
        metadata_versions=set(libraries.metadata.versions),
        adapter_problems=lambda _dest, name, options: binding_problem(libraries.registry, name, options),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _load(args)
    configure_logging(settings.log_format, settings.log_level)
    settings = with_embedded_default(settings)
    libraries = Libraries.load()
    problems = _check(settings, libraries)
    if problems:
        _print_problems(problems)
        return 2
    uvicorn.run(
        create_app(settings, libraries),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        h11_max_incomplete_event_size=16 * 1024,
    )
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    """The HTTP API alone (intake): relay and workers run as their own processes."""
    args.run_stages = False
    return cmd_serve(args)


def cmd_stage(args: argparse.Namespace) -> int:
    """``xgw relay`` / ``xgw worker``: one stage role without HTTP, until SIGINT/SIGTERM."""
    import asyncio
    import signal

    settings = _load(args)
    configure_logging(settings.log_format, settings.log_level)
    settings = with_embedded_default(settings)
    if settings.amqp_url is None:
        print("error: a separate relay or worker needs RabbitMQ: set XGW_AMQP_URL", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_gateway(settings, frozenset({args.role})):
            await stop.wait()

    asyncio.run(run())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.demo import run_demo

    settings = _load(args)
    configure_logging(settings.log_format, "warning")
    return asyncio.run(run_demo(settings))


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _load(args)
    problems = _check(settings, Libraries.load())
    _print_problems(problems)
    if not problems:
        print(f"ok: {len(settings.tenants)} tenants, {len(settings.clients)} clients")
    return 1 if problems else 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    settings = _load(args)
    try:
        destination = str(uuid.UUID(args.destination))
    except ValueError:
        print(f"error: not a destination id (uuid): {args.destination!r}", file=sys.stderr)
        return 2
    keys = KeyStore(settings.keys_path)
    for purpose in ("encryption", "signing"):
        pair = keys.generate(destination, purpose)
        print(f"{purpose:10} kid={pair.kid}")
    print(f"private keys in {keys.root / destination} (0600); restart to publish the new encryption key")
    return 0


def cmd_clients_secret(args: argparse.Namespace) -> int:
    secret = new_client_secret()
    print(f"client secret (give it to the sender, it is not stored): {secret}")
    print(f'secret_hash = "{hash_secret(secret)}"')
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from gateway.validation import check_schemas, default_schema_root, list_schemas

    if args.action == "list":
        print(list_schemas(default_schema_root()))
        return 0
    ok, report = check_schemas(default_schema_root())
    print(report)
    return 0 if ok else 1


def cmd_adapters_list(args: argparse.Namespace) -> int:
    from gateway.adapters.commands import list_adapters
    from gateway.adapters.host import AdapterRegistry

    print(list_adapters(AdapterRegistry.discover(), as_json=args.json))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xgw", description="xoev-gateway: FIT-Connect intake, XÖV validation, delivery"
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML config file (or XGW_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the whole gateway in one process")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    api = sub.add_parser("api", help="only the HTTP API (scale-out: run xgw relay and xgw worker too)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(func=cmd_api)
    sub.add_parser("relay", help="only the outbox relay (needs XGW_AMQP_URL)").set_defaults(
        func=cmd_stage, role="relay"
    )
    sub.add_parser("worker", help="only the stage consumers (needs XGW_AMQP_URL)").set_defaults(
        func=cmd_stage, role="workers"
    )

    demo = sub.add_parser("demo", help="send one real submission through the whole gateway and show it")
    demo.set_defaults(func=cmd_demo)

    config = sub.add_parser("config", help="configuration").add_subparsers(dest="action", required=True)
    config.add_parser("check", help="report every problem with its key path").set_defaults(
        func=cmd_config_check
    )

    keys = sub.add_parser("keys", help="destination keys").add_subparsers(dest="action", required=True)
    generate = keys.add_parser("generate", help="new RSA-4096 encryption and signing keys for a destination")
    generate.add_argument("destination")
    generate.set_defaults(func=cmd_keys_generate)

    clients = sub.add_parser("clients", help="sender clients").add_subparsers(dest="action", required=True)
    clients.add_parser("secret", help="a new client secret and its hash").set_defaults(
        func=cmd_clients_secret
    )

    schemas = sub.add_parser("schemas", help="the XSD catalogue").add_subparsers(dest="action", required=True)
    schemas.add_parser("list", help="every accepted schemaUri").set_defaults(func=cmd_schemas)
    schemas.add_parser("check", help="compile every set and report failures").set_defaults(func=cmd_schemas)

    adapters = sub.add_parser("adapters", help="installed adapters").add_subparsers(
        dest="action", required=True
    )
    listing = adapters.add_parser("list", help="installed adapters with their options schema")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_adapters_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
