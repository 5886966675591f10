"""A vendor's first hour: ``xgw adapters new`` scaffolds an adapter package, it installs into a
fresh virtualenv, its generated tests pass there, and bound in a configuration it delivers a
submission through ``xgw serve``.

No network: the fresh virtualenv sees this environment's packages (the gateway and its
dependencies) through a ``.pth`` file, and pip installs the scaffold with ``--no-index``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import httpx
import pytest

from gateway.adapters.testing import LEIKA_BAUGENEHMIGUNG, XBAU_SCHEMA_URI
from gateway.crypto.secrets import hash_secret
from gateway.testing.harness import DESTINATION
from gateway.testing.sender import Sender, sample_submission

pytestmark = pytest.mark.slow  # over a minute: a virtualenv, a pytest run and xgw serve

NAME = "acme-dms"
CLIENT, SECRET = "portal", "scaffold-test-secret-0123456789abcdef"
XGW = "import sys; from gateway.cli import main; sys.exit(main())"


def run(argv: Sequence[str | Path], cwd: Path, timeout: float = 180) -> str:
    """Run ``argv``; its output, or a failure that shows it."""
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}:\n{output}"
    return output


def _env() -> dict[str, str]:
    """This environment without what would reach into the child's pytest or coverage."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "COVERAGE_"))}


def fresh_venv(root: Path) -> Path:
    """A virtualenv at ``root`` that sees this environment's packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root).strip()
    outer = sysconfig.get_paths()["purelib"]
    Path(purelib, "outer-environment.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(tmp_path: Path, key_template: Path, port: int) -> Path:
    shutil.copytree(key_template, tmp_path / "keys")
    (tmp_path / "import").mkdir()
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
port = {port}
data_dir = "{tmp_path / "data"}"
key_dir = "{tmp_path / "keys"}"

[delivery]
relay_poll_seconds = 0.2

[[tenants]]
id = "musterstadt"

  [[tenants.destinations]]
  id = "{DESTINATION}"
  status = "active"

    [[tenants.destinations.services]]
    identifier = "{LEIKA_BAUGENEHMIGUNG}"
    name = "Baugenehmigung beantragen"
    regions = ["064350014014"]
    submission_schemas = [{{ schema_uri = "{XBAU_SCHEMA_URI}", mime_type = "application/xml" }}]
    adapter = {{ name = "{NAME}", options = {{ directory = "{tmp_path / "import"}" }} }}

[[clients]]
id = "{CLIENT}"
secret_hash = "{hash_secret(SECRET)}"
regions = ["06435"]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is stopped (SIGTERM, then SIGKILL) after it."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"xgw serve exited {process.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"xgw serve did not answer within 60 s:\n{log.read_text()}")


async def send_and_follow(base_url: str) -> tuple[str, list[str]]:
    """Send the sample; its submission id and event names once it is accepted (or after 30 s)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as api:
        sender = Sender(api, CLIENT, SECRET)
        sent = await sender.submit(DESTINATION, sample_submission())
        events: list[str] = []
        for _ in range(150):
            events = await sender.events(sent.case_id)
            if "accept-submission" in events or "reject-submission" in events:
                break
            await asyncio.sleep(0.2)
    return sent.submission_id, events


def test_a_scaffolded_adapter_installs_passes_its_tests_and_delivers_through_xgw_serve(
    tmp_path: Path, xgw_key_template: Path, serving: list[subprocess.Popen[bytes]]
) -> None:
    package = tmp_path / "xgw-adapter-acme-dms"
    xgw = Path(sys.executable).with_name("xgw")
    assert "created" in run([xgw, "adapters", "new", NAME, "--directory", package], tmp_path)
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], package)
    run([sys.executable, "-m", "ruff", "format", "--no-cache", "--check", "."], package)

    python = fresh_venv(tmp_path / "venv")
    run(
        [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation", "-e", "."],
        package,
    )
    assert f"{NAME}  (xgw_adapter_acme_dms:AcmeDmsAdapter)" in run(
        [python, "-c", XGW, "adapters", "list"], package
    )
    with pytest.raises(PackageNotFoundError):  # installed there, not here
        distribution("xgw-adapter-acme-dms")
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], package)
    assert "8 passed" in tests, tests

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serving.append(
            subprocess.Popen(
                [python, "-c", XGW, "serve", "--config", config(tmp_path, xgw_key_template, port)],
                cwd=tmp_path,
                env=_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_until_serving(base_url, serving[0], log)
    submission_id, events = asyncio.run(send_and_follow(base_url))
    assert events[-1] == "accept-submission", f"{events}\n{log.read_text()}"
    delivered = tmp_path / "import" / submission_id
    assert {"manifest.json", "metadata.json", "data.xml"} <= {p.name for p in delivered.iterdir()}
