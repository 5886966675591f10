"""The operators' dashboard in Chromium: an operator logs in, finds the submission the vendor
refused in the parked list, replays it and sees it delivered on its trace page."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gateway.adapters.fake_vendor import FakeVendor
from gateway.config.settings import Settings
from gateway.crypto.secrets import hash_secret
from gateway.testing.sender import Sender, sample_submission
from tests.browser.conftest import Browsing
from tests.conftest import ACTIVE, LEIKA, SECRET, XBAU
from tests.eventually import eventually_sync

OPERATOR, OPERATOR_SECRET = "musterstadt-ops", "operator-secret-0123456789abcdef"


@pytest.fixture
def vendor(tmp_path: Path) -> Iterator[FakeVendor]:
    (tmp_path / "spool").mkdir()
    vendor = FakeVendor(tmp_path / "spool").start()
    yield vendor
    vendor.stop()


@pytest.fixture
def browser_settings(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], vendor: FakeVendor
) -> Settings:
    """The whole gateway (stages on the in-process broker) with ACTIVE delivering to ``vendor``."""
    shutil.copytree(key_template, tmp_path / "keys")
    service = {
        "identifier": LEIKA,
        "name": "Baugenehmigung",
        "regions": ["064350014014"],
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
        "adapter": {"name": "http", "options": {"url": vendor.url}},
    }
    return Settings.load(
        None,
        base_url="http://gateway.test",
        data_dir=tmp_path / "data",
        key_dir=tmp_path / "keys",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        run_stages=True,
        tenants=[
            {
                "id": "musterstadt",
                "destinations": [{"id": ACTIVE, "name": "Bauamt", "services": [service]}],
            }
        ],
        clients=[{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}],
        operators=[{"id": OPERATOR, "secret_hash": hash_secret(OPERATOR_SECRET), "tenants": ["musterstadt"]}],
        delivery={"retry_delays_ms": [100, 200], "relay_poll_seconds": 0.2},
    )


def submit(base_url: str) -> str:
    """A sample submission sent to ACTIVE as the portal would; its id (in a thread of its own:
    Playwright's loop runs in this one)."""

    async def send() -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            sent = await Sender(client, "portal", SECRET).submit(ACTIVE, sample_submission())
        return sent.submission_id

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, send()).result(timeout=60)


def test_an_operator_logs_in_replays_a_parked_submission_and_sees_it_delivered(
    browsing: Browsing, vendor: FakeVendor
) -> None:
    page = browsing.page
    vendor.fail(422, body=b"E-4711")  # the vendor refuses the first delivery for good
    submission_id = submit(browsing.base_url)

    browsing.open("/admin/parked")
    assert page.url.endswith("/admin/login?next=/admin/parked")
    page.fill("input[name=operator]", OPERATOR)
    page.fill("input[name=secret]", "not-the-secret")
    with page.expect_navigation():
        page.click("form.login button")
    assert "Unknown operator or wrong secret." in page.locator(".error").inner_text()
    page.fill("input[name=operator]", OPERATOR)
    page.fill("input[name=secret]", OPERATOR_SECRET)
    with page.expect_navigation():
        page.click("form.login button")
    assert page.url.endswith("/admin/parked")
    assert OPERATOR in page.locator("header .who").inner_text()

    row = page.locator(f"#parked-{submission_id}")

    def listed() -> bool:
        page.reload()
        return row.count() == 1

    eventually_sync(listed, within=30, what=f"{submission_id} in the parked list")
    assert "422" in row.inner_text()
    page.click("header nav >> text=Destinations")
    destination = page.locator(f"#destination-{ACTIVE}")
    assert "Bauamt" in destination.inner_text() and "active" in destination.inner_text()
    page.click("header nav >> text=Parked")

    replay = row.locator("form.action").filter(has=page.locator("button.replay"))
    replay.locator("input[name=reason]").fill("vendor fixed E-4711")
    with page.expect_navigation():
        replay.locator("button.replay").click()
    assert page.url.endswith("/admin/parked")
    assert "queued for delivery again" in page.locator(".notice").inner_text()
    assert row.count() == 0

    page.click("header nav >> text=Trace")
    page.fill("input[name=ref]", submission_id)
    with page.expect_navigation():
        page.click("form.search button")
    status = page.locator("#submission-status")

    def delivered() -> bool:
        page.reload()
        return status.inner_text() == "delivered"

    eventually_sync(delivered, within=30, what=f"{submission_id} delivered")
    timeline = page.locator("table.timeline").inner_text()
    assert "attempt 1 via http: permanent" in timeline and "attempt 2 via http: delivered" in timeline
    assert len(vendor.posts()) == 2  # the screenshot shows the trace page with the delivery
