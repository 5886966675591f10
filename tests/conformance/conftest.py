"""A live ``xgw serve`` (real uvicorn on 127.0.0.1) on its embedded default, as a new user starts it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.eventually import eventually_sync


@dataclass(frozen=True)
class LiveGateway:
    base_url: str
    destination_id: str
    client_id: str
    client_secret: str
    workdir: Path


def live_keys(live: LiveGateway) -> Callable[[str, str], dict[str, Any]]:
    """Fetches a destination's public key from the live gateway, as a sender verifying SETs does."""

    def key(destination_id: str, kid: str) -> dict[str, Any]:
        response = httpx.get(f"{live.base_url}/v1/destinations/{destination_id}/keys/{kid}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _field(output: str, label: str) -> str:
    match = re.search(rf"{label}\s*:\s*(\S+)", output)
    assert match, f"{label} not printed by xgw serve:\n{output}"
    return match.group(1)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    workdir = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")} | {"XGW_LOG_FORMAT": "json"}
    xgw = Path(sys.executable).with_name("xgw")
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(xgw), "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def up_or_exited() -> bool:
        if process.poll() is not None:
            return True  # the assert below shows its output
        try:
            return httpx.get(f"{base_url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually_sync(up_or_exited, within=60, interval=0.1, what=f"xgw serve up (log: {log_path})")
        output = log_path.read_text()
        assert process.poll() is None, f"xgw serve exited:\n{output}"
        yield LiveGateway(
            base_url,
            _field(output, "destination id"),
            _field(output, "client id"),
            _field(output, "client secret"),
            workdir,
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
