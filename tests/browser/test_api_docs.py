"""The API documentation pages render from the gateway alone: no request leaves 127.0.0.1."""

from __future__ import annotations

from tests.browser.conftest import Browsing
from tests.conftest import ACTIVE, SECRET

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


def test_swagger_ui_authorizes_and_calls_an_operation(browsing: Browsing) -> None:
    """*Authorize* gets a token from /token (HTTP Basic), *Try it out* sends it as bearer."""
    page = browsing.page
    browsing.open("/docs")
    page.click("button.authorize")
    page.fill("#client_id_clientCredentials", "portal")
    page.fill("#client_secret_clientCredentials", SECRET)
    page.click(".auth-btn-wrapper button.authorize")
    page.locator(".auth-container").get_by_text("Authorized", exact=True).wait_for()
    page.click(".auth-btn-wrapper button.btn-done")
    operation = page.locator("#operations-routing-get_destination_v1_destinations__destination_id__get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("input[placeholder='destination_id']").fill(ACTIVE)
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert '"name": "Bauamt"' in operation.locator(".live-responses-table").inner_text()
    assert browsing.blocked == []
