"""Checks that run before anything starts: configuration, database, broker, keys, HTTP port.

Each check raises :class:`~gateway.cli.failure.Failure` with one line a person can act on, so
that ``xgw serve`` stops before migrations or stages when it could not run anyway.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from gateway.app import Libraries
from gateway.cli.failure import Exit, Failure
from gateway.config.check import ConfigProblem, check_settings, validation_problems
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.errors import ConfigError
from gateway.store.probe import database_problem, url_problem


def xgw_command(config: Path | None) -> str:
    """How to call ``xgw`` again with the same configuration, for hints."""
    return f"xgw --config {config}" if config is not None else "xgw"


def load_settings(config: Path | None, **overrides: object) -> Settings:
    """The settings, or a failure listing every invalid value with its key path."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings.load(config, **given)
    except ConfigError as exc:
        raise Failure(str(exc), Exit.CONFIG) from exc
    except ValidationError as exc:
        raise Failure(_lines(validation_problems(exc)), Exit.CONFIG) from exc


def _lines(problems: Sequence[ConfigProblem]) -> str:
    return "\n".join(f"error: {p}" for p in problems).removeprefix("error: ")


def config_problems(settings: Settings, libraries: Libraries, command: str = "xgw") -> list[ConfigProblem]:
    """Every problem found without connecting anywhere, including schemas the catalogue lacks."""
    from gateway.routing.bindings import binding_problem

    problems = check_settings(
        settings,
        KeyStore(settings.keys_path),
        knows_schema=libraries.catalogue.knows,
        metadata_versions=set(libraries.metadata.versions),
        adapter_problems=lambda _dest, name, options: binding_problem(libraries.registry, name, options),
        command=command,
    )
    database = url_problem(settings.database)
    if database is not None:
        problems.append(ConfigProblem("database_url", database))
    return problems


def require_valid(settings: Settings, libraries: Libraries, command: str = "xgw") -> None:
    problems = config_problems(settings, libraries, command)
    if problems:
        raise Failure(_lines(problems), Exit.CONFIG)


async def require_services(settings: Settings, *, broker: bool) -> None:
    """The database answers, and RabbitMQ too where it is configured and ``broker`` is wanted."""
    database = await database_problem(settings.database)
    if database is not None:
        raise Failure(f"database_url: {database}", Exit.DATABASE)
    if broker and settings.amqp_url is not None:
        from gateway.broker.amqp.probe import broker_problem

        unreachable = await broker_problem(settings.amqp_url.get_secret_value())
        if unreachable is not None:
            raise Failure(f"amqp_url: {unreachable}", Exit.BROKER)


def require_key_directory(settings: Settings) -> None:
    """The key directory is usable; without tenants, ``xgw serve`` creates it for the demo tenant."""
    problems = KeyStore(settings.keys_path).problems() if settings.tenants else []
    if problems:
        raise Failure("\n".join(problems), Exit.CONFIG)


def require_free_port(host: str, port: int) -> None:
    """The HTTP address can be bound now (as uvicorn will bind it, with SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise Failure(
            f"cannot listen on host {host!r}: unknown name; check --host/XGW_HOST", Exit.PORT
        ) from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise Failure(_bind_problem(host, port, exc), Exit.PORT) from exc


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use: stop what uses it or choose another with --port"
    if exc.errno == errno.EACCES:
        return f"port {port} needs privileges this user lacks: choose a port above 1023 with --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: check --host/XGW_HOST"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
