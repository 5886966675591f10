"""`xgw demo` walks a first-time user through one submission, on both brokers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from gateway.broker import Topology
from tests.integration.delivery.conftest import AMQP_URL, delete_topology, require_rabbitmq


def _run_demo(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    xgw = Path(sys.executable).with_name("xgw")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    return subprocess.run(
        [str(xgw), "demo", *args], cwd=cwd, env=clean | env, capture_output=True, text=True, timeout=180
    )


def _assert_delivered(result: subprocess.CompletedProcess[str], cwd: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in (
        "event create-submission",
        "event submit-submission",
        "event accept-submission",
        "Security Event Tokens verify",
    ):
        assert line in out
    package = cwd / out.split("Delivered package: ")[1].split()[0]
    assert {p.name for p in package.iterdir()} >= {
        "data.xml",
        "metadata.json",
        "manifest.json",
        "attachments",
    }
    assert (package / "attachments" / "lageplan.pdf").read_bytes().startswith(b"%PDF")


def test_demo_delivers_on_the_embedded_default(tmp_path: Path) -> None:
    _assert_delivered(_run_demo(tmp_path), tmp_path)


def test_demo_listens_on_the_port_it_is_given(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run_demo(tmp_path, "--port", str(port))
    assert f"Starting the gateway on http://127.0.0.1:{port} " in result.stdout
    _assert_delivered(result, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        refused = _run_demo(tmp_path, "--port", str(port))
    assert refused.returncode == 5
    assert refused.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already in use: stop what uses it or choose another with --port"
    )


@pytest.mark.rabbitmq
async def test_demo_delivers_over_rabbitmq(tmp_path: Path) -> None:
    await require_rabbitmq()
    namespace = f"demo{uuid.uuid4().hex[:10]}"
    try:
        _assert_delivered(
            _run_demo(tmp_path, XGW_AMQP_URL=AMQP_URL, XGW_DELIVERY__NAMESPACE=namespace), tmp_path
        )
    finally:
        state = tomllib.loads((tmp_path / "xgw-data" / "embedded.toml").read_text())
        await delete_topology(Topology(namespace=namespace), (state["destination_id"],))
