"""``xgw`` turns every known failure into one line and a documented exit code, before anything
starts; ``--debug`` adds the traceback. Global options go before or after the subcommand."""

from __future__ import annotations

import asyncio
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.cli import Exit, main
from tests.conftest import IN_CI, PG_ADMIN_URL
from tests.integration.delivery.conftest import AMQP_URL, require_rabbitmq

DEST = "0c438057-ec3e-4ce0-b154-1683b5d3c2e8"
SERVICE = """
[[tenants.destinations.services]]
identifier = "urn:de:fim:leika:leistung:99066006001000"
name = "Baugenehmigung beantragen"
submission_schemas = [{ schema_uri = "urn:xoev-de:bmk:standard:xbau_2.6", mime_type = "application/xml" }]
adapter = { name = "filesystem", options = { directory = "delivered" } }
"""


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def one_error_line(self) -> str:
        """The single line on stderr (asserted to be exactly one ``error:`` line)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: "), self.err
        return lines[0]


Run = Callable[..., Ran]


@pytest.fixture
def xgw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``xgw`` in-process in an empty working directory with only the given ``XGW_*`` variables."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("XGW_")]:
        monkeypatch.delenv(name)

    def run(*argv: str, **env: str) -> Ran:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    yield run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require_postgres() -> None:
    where = urlsplit(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 5432), timeout=3).close()
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")


def _postgres_url(user: str = "postgres", database: str = "test", port: int | None = None) -> str:
    where = urlsplit(PG_ADMIN_URL)
    return f"postgresql+asyncpg://{user}@{where.hostname}:{port or where.port or 5432}/{database}"


def test_toml_syntax_error_names_file_line_and_column(xgw: Run, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('port = 8080\n[[tenants]\nid = "x"\n')
    ran = xgw("config", "check", "--config", "bad.toml")
    assert ran.code == Exit.CONFIG and Exit.CONFIG.value == 2
    assert "bad.toml, line 2, column 10: not valid TOML" in ran.one_error_line()


def test_missing_config_file(xgw: Run) -> None:
    ran = xgw("--config", "nope.toml", "serve")
    assert ran.code == Exit.CONFIG
    assert ran.one_error_line() == (
        "error: config file nope.toml not found (given by --config or XGW_CONFIG)"
    )


def test_database_url_without_async_driver_is_a_config_problem(xgw: Run) -> None:
    url = "postgresql://gw:hunter2@db.example:5432/gateway"
    checked = xgw("config", "check", XGW_DATABASE_URL=url)
    assert checked.code == Exit.PROBLEMS
    line = checked.one_error_line()
    assert "database_url: driver 'postgresql' is not supported" in line
    assert "postgresql+asyncpg://gw:***@db.example:5432/gateway" in line
    assert "hunter2" not in checked.err + checked.out
    served = xgw("serve")
    assert served.code == Exit.CONFIG and "postgresql+asyncpg://" in served.one_error_line()


def test_unreachable_database_port(xgw: Run) -> None:
    ran = xgw("serve", XGW_DATABASE_URL=_postgres_url(port=_closed_port()))
    assert ran.code == Exit.DATABASE and Exit.DATABASE.value == 3
    line = ran.one_error_line()
    assert "cannot reach the database at 127.0.0.1:" in line and "is PostgreSQL running there?" in line


def test_unknown_database_host(xgw: Run) -> None:
    ran = xgw("serve", XGW_DATABASE_URL="postgresql+asyncpg://gw@db.invalid:5432/gateway")
    assert ran.code == Exit.DATABASE
    assert (
        ran.one_error_line() == "error: database_url: unknown database host 'db.invalid': check database_url"
    )


def test_key_files_open_to_others_are_refused(xgw: Run, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        f'[[tenants]]\nid = "musterstadt"\n[[tenants.destinations]]\nid = "{DEST}"\n{SERVICE}'
    )
    assert xgw("keys", "generate", DEST, "--config", "c.toml").code == Exit.OK
    exposed = next((tmp_path / "xgw-data" / "keys" / DEST).glob("*.json"))
    exposed.chmod(0o644)
    ran = xgw("serve", "--config", "c.toml")
    assert ran.code == Exit.CONFIG
    assert (
        ran.one_error_line()
        == f"error: key file {exposed.relative_to(tmp_path)} is open to others (mode 0644): chmod 600 it"
    )


def test_missing_database_says_how_to_create_it(xgw: Run) -> None:
    _require_postgres()
    ran = xgw("config", "check", "--connect", XGW_DATABASE_URL=_postgres_url(database="xgw_no_such_db"))
    assert ran.code == Exit.DATABASE
    line = ran.one_error_line()
    assert 'database "xgw_no_such_db" does not exist' in line and "createdb" in line


def test_refused_database_role(xgw: Run) -> None:
    _require_postgres()
    ran = xgw("serve", XGW_DATABASE_URL=_postgres_url(user="xgw_no_such_role"))
    assert ran.code == Exit.DATABASE
    line = ran.one_error_line()
    assert 'role "xgw_no_such_role" does not exist' in line and "check the user in database_url" in line


def test_unreachable_broker(xgw: Run) -> None:
    ran = xgw("worker", XGW_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{_closed_port()}/")
    assert ran.code == Exit.BROKER and Exit.BROKER.value == 4
    line = ran.one_error_line()
    assert "amqp_url: cannot reach RabbitMQ at 127.0.0.1:" in line and "is it running there?" in line


async def test_broker_refusing_the_login(xgw: Run) -> None:
    await require_rabbitmq()
    wrong = AMQP_URL.replace("guest:guest@", "guest:wrong-password@")
    ran = await asyncio.to_thread(xgw, "config", "check", "--connect", XGW_AMQP_URL=wrong)
    assert ran.code == Exit.BROKER
    assert "refused the login: check user and password in amqp_url" in ran.one_error_line()
    assert "wrong-password" not in ran.err


def test_port_in_use_is_reported_before_anything_starts(xgw: Run, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = xgw("serve", "--port", str(port))
    assert ran.code == Exit.PORT and Exit.PORT.value == 5
    assert ran.one_error_line() == (
        f"error: port {port} on 127.0.0.1 is already in use: stop what uses it or choose another with --port"
    )
    assert not (tmp_path / "xgw-data" / "gateway.db").exists()  # no migration ran


def test_missing_keys_hint_repeats_the_config_option(xgw: Run, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        f'[[tenants]]\nid = "musterstadt"\n[[tenants.destinations]]\nid = "{DEST}"\n{SERVICE}'
    )
    ran = xgw("serve", "--config", "c.toml")
    assert ran.code == Exit.CONFIG
    assert f"run `xgw --config c.toml keys generate {DEST}`" in ran.one_error_line()
    generated = xgw("keys", "generate", DEST, "--config", "c.toml")
    assert generated.code == Exit.OK and "note: no --config" not in generated.out
    assert xgw("config", "check", "--config", "c.toml").code == Exit.OK


def test_keys_generate_without_config_says_where_it_wrote(xgw: Run) -> None:
    ran = xgw("keys", "generate", DEST)
    assert ran.code == Exit.OK
    assert f"private keys in xgw-data/keys/{DEST}" in ran.out and "pass --config FILE" in ran.out


def test_api_alone_on_the_in_process_broker_refuses_to_start(xgw: Run) -> None:
    ran = xgw("api")
    assert ran.code == Exit.CONFIG
    assert "nothing ever processes: set XGW_AMQP_URL" in ran.one_error_line()


def test_config_check_connect_on_the_embedded_default(xgw: Run) -> None:
    ran = xgw("config", "check", "--connect")
    assert ran.code == Exit.OK and ran.err == ""
    assert ran.out.strip() == "ok: 0 tenants, 0 clients; database reachable"


def test_debug_shows_the_traceback(xgw: Run) -> None:
    plain = xgw("--config", "nope.toml", "config", "check")
    debug = xgw("config", "check", "--config", "nope.toml", "--debug")
    assert plain.code == debug.code == Exit.CONFIG
    assert "Traceback" not in plain.err
    assert "Traceback (most recent call last)" in debug.err and debug.err.rstrip().endswith(plain.err.strip())


def test_unexpected_errors_are_one_line_unless_debugging(xgw: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> int:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr("gateway.cli.commands.new_client_secret", broken)
    ran = xgw("clients", "secret")
    assert ran.code == Exit.INTERNAL
    assert ran.one_error_line() == (
        "error: unexpected RuntimeError: something broke (--debug shows the traceback)"
    )
    with pytest.raises(RuntimeError) as raised:
        xgw("clients", "secret", XGW_DEBUG="1")
    assert "broken" in "".join(traceback.format_tb(raised.value.__traceback__))


def test_version(xgw: Run) -> None:
    with pytest.raises(SystemExit) as exited:
        xgw("--version")
    assert exited.value.code == 0


def test_start_banner_lists_what_was_loaded_without_secrets(tmp_path: Path) -> None:
    from gateway.cli.banner import banner
    from gateway.config.settings import Settings

    (tmp_path / "c.toml").write_text(
        f'[[tenants]]\nid = "musterstadt"\n[[tenants.destinations]]\nid = "{DEST}"\nname = "Bauaufsicht"\n'
        f'{SERVICE}\n[[clients]]\nid = "portal"\nsecret_hash = "scrypt$1$2$3$c2FsdA$aGFzaA"\n'
        f'destinations = ["{DEST}"]\n'
    )
    settings = Settings.load(tmp_path / "c.toml", amqp_url="amqp://gw:hunter2@mq.example:5672/prod")
    text = banner(settings, None, "serve", http=True)
    for expected in (
        "tenants        : musterstadt",
        f"{DEST} musterstadt/Bauaufsicht (active)",
        "urn:de:fim:leika:leistung:99066006001000 Baugenehmigung beantragen → filesystem",
        "clients        : portal",
        "RabbitMQ mq.example:5672 (vhost prod)",
        "SQLite file",
    ):
        assert expected in text, text
    assert "hunter2" not in text and "scrypt" not in text


def test_adapter_checks_report_a_missing_import_directory(xgw: Run, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-import"
    service = SERVICE.replace('directory = "delivered"', f'directory = "{missing}"')
    (tmp_path / "c.toml").write_text(
        f'[[tenants]]\nid = "musterstadt"\n[[tenants.destinations]]\nid = "{DEST}"\n{service}'
    )
    xgw("keys", "generate", DEST, "--config", "c.toml")
    checked = xgw("adapters", "check", "--config", "c.toml")
    assert checked.code == Exit.PROBLEMS
    assert checked.out.splitlines() == [
        f"FAILED  {DEST}  urn:de:fim:leika:leistung:99066006001000  filesystem",
        "        options.directory: is not an existing directory",
        "0 ok, 1 failed",
    ]
    assert xgw("config", "check", "--config", "c.toml").code == Exit.OK  # without --connect: values only
    connected = xgw("config", "check", "--connect", "--config", "c.toml")
    assert connected.code == Exit.PROBLEMS
    assert connected.one_error_line() == (
        f"error: destination {DEST}, service urn:de:fim:leika:leistung:99066006001000: "
        "adapter filesystem: options.directory: is not an existing directory"
    )
    missing.mkdir()
    assert xgw("adapters", "check", "--destination", DEST, "--config", "c.toml").code == Exit.OK
    assert "adapter checks passed" in xgw("config", "check", "--connect", "--config", "c.toml").out
