"""The API documentation pages render from the gateway alone: no request leaves 127.0.0.1."""

from __future__ import annotations

from tests.browser.conftest import Browsing

OPERATIONS = ["/token", "/v1/submissions", "/v2/submissions/{submission_id}", "/v1/validate", "/health"]


def test_swagger_ui_lists_the_operations_without_network(browsing: Browsing) -> None:
    browsing.open("/docs")
    browsing.page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = browsing.page.locator(".opblock-summary-path").all_inner_texts()
    for operation in OPERATIONS:
        assert any(operation in p for p in paths), operation
    tags = browsing.page.locator(".opblock-tag").all_inner_texts()
    assert {"sender", "routing", "dry-run", "keys", "admin"} <= {t.split()[0] for t in tags}
    assert browsing.page.locator("button.authorize").count() == 1  # the bearer scheme
    assert browsing.blocked == []


def test_redoc_lists_the_operations_without_network(browsing: Browsing) -> None:
    browsing.open("/redoc")
    browsing.page.wait_for_selector("h2", timeout=15_000)
    text = browsing.page.locator("body").inner_text()
    for operation in OPERATIONS:
        assert operation in text, operation
    assert browsing.blocked == []


def test_a_request_to_another_host_is_blocked_and_recorded(browsing: Browsing) -> None:
    browsing.open("/health")  # a page without the docs pages' Content-Security-Policy
    browsing.page.evaluate("fetch('https://cdn.example.invalid/x.js').catch(() => null)")
    assert browsing.blocked == ["https://cdn.example.invalid/x.js"]
    browsing.blocked.clear()  # seen; the fixture checks the rest
