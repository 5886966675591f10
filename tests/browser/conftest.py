"""A browser for tests: the gateway behind its front door (``gateway.server``) on a free 127.0.0.1
port, and Debian's headless Chromium, driven by Playwright, that may reach nothing else.

``browsing`` yields a :class:`Browsing`: a page whose requests to any other host are aborted and
recorded in ``blocked`` (the fixture fails the test if there are any), and whose screenshot is
saved at the end under ``XGW_TEST_ARTIFACTS`` (default ``tests/.artifacts``). Override
``browser_settings`` for another configuration. Without Chromium the tests are skipped, except in
CI, where they fail.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, sync_playwright

from gateway.app import Libraries, create_app
from gateway.config.settings import Settings
from gateway.server import server_config
from tests.conftest import IN_CI, SECRET, make_settings, tenants
from tests.eventually import eventually_sync

CHROMIUM = Path("/usr/bin/chromium")
LOCAL = "127.0.0.1"
ARTIFACTS = Path(os.environ.get("XGW_TEST_ARTIFACTS") or Path(__file__).parents[1] / ".artifacts")


@dataclass
class Browsing:
    """A page of the gateway at ``base_url``; ``blocked`` lists the requests it tried elsewhere."""

    page: Page
    base_url: str
    blocked: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, f"GET {path}: {response and response.status}"

    def guard(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == LOCAL:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


@pytest.fixture
def browser_settings(tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]) -> Settings:
    """The test tenants and the client ``portal`` on SQLite."""
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    database = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    return make_settings(tmp_path, key_template, database, tenants(), clients)


@pytest.fixture(scope="package")
def libraries() -> Libraries:
    """Schemas and adapters loaded once for all browser tests."""
    return Libraries.load()


@pytest.fixture
def live_gateway(browser_settings: Settings, libraries: Libraries) -> Iterator[str]:
    """The gateway's base URL, served by uvicorn in a thread until the test ends."""
    app = create_app(browser_settings, libraries)
    config = server_config(app, browser_settings, host=LOCAL, port=0)
    server = uvicorn.Server(config)
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        eventually_sync(lambda: server.started or not thread.is_alive(), within=30, what="uvicorn started")
        assert server.started, "the gateway did not start"
        yield f"http://{LOCAL}:{sock.getsockname()[1]}"
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        # no host name resolves either, so nothing leaves the machine even past the page's guard
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOCAL}"]
        )
        yield browser
        browser.close()


@pytest.fixture
def browsing(chromium: Browser, live_gateway: str, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    browsing = Browsing(context.new_page(), live_gateway)
    context.route("**/*", browsing.guard)
    yield browsing
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.rsplit("/", 1)[-1])
    browsing.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=False)
    context.close()
    assert not browsing.blocked, f"requests to hosts other than {LOCAL}: {browsing.blocked}"
