"""The operators' dashboard (``/admin/``) in process: every page needs a login, a wrong secret
is refused, a form without the session's CSRF token is 403, an operator of another tenant
neither sees nor touches a foreign destination, unknown ids and bad forms are 4xx pages (never
500), and no page shows payload content."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.crypto.secrets import hash_secret
from tests.conftest import ACTIVE
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_admin_api import OPS_SECRET
from tests.integration.pipeline.test_admin_api import start as start_with_operators
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import send

# the pages read the same services on either broker: the in-process one is enough here, except
# for the replay through to delivery, which also runs on RabbitMQ
IN_PROCESS = pytest.mark.parametrize("pipeline", ["memory"], indirect=True)

UNKNOWN = "00000000-0000-0000-0000-000000000000"
#: Text of the sample's XML (a message UUID) and of its PDF attachment: payload, never on a page.
PAYLOAD = ("a1b2c3d4-e5f6-4890-abcd-ef1234567890", "Lageplan")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def log_in(api: httpx.AsyncClient, operator: str, secret: str = OPS_SECRET) -> str:
    """Log ``operator`` in on ``api`` (its cookie jar keeps the session); the session's CSRF token."""
    form = await api.get("/admin/login")
    assert form.status_code == 200
    fields = {"csrf": csrf_of(form), "operator": operator, "secret": secret, "next": "/admin/"}
    answer = await api.post("/admin/login", data=fields)
    assert answer.status_code == 303, answer.text
    home = await api.get("/admin/")
    assert home.status_code == 200 and operator in home.text
    return csrf_of(home)


async def parked_one(api: httpx.AsyncClient) -> dict[str, str]:
    ref, _ = await send(api, bearer(await token(api)), HTTP_LEIKA)
    await settled(api, ref["submissionId"], "parked")
    return ref


def assert_no_payload(page: httpx.Response) -> None:
    for text in PAYLOAD:
        assert text not in page.text, (page.request.url, text)


@IN_PROCESS
async def test_every_page_and_form_sends_a_browser_without_a_session_to_the_login(
    pipeline: PipelineGateway,
) -> None:
    api, _ = await start_with_operators(pipeline)
    ref = await parked_one(api)
    sid = ref["submissionId"]
    pages = ["/admin/", "/admin/parked", f"/admin/parked?destination={ACTIVE}", f"/admin/trace?ref={sid}"]
    forms = [
        f"/admin/parked/{sid}/replay",
        f"/admin/parked/{sid}/reject",
        f"/admin/destinations/{ACTIVE}/pause",
    ]
    for cookie in (None, "forged.cookie", "x" * 5000):
        api.cookies.clear()
        if cookie:
            api.cookies.set("xgw_admin", cookie, domain="gateway.test", path="/admin")
        for path in pages:
            answer = await api.get(path)
            assert answer.status_code == 303, (path, answer.text)
            assert answer.headers["location"].startswith("/admin/login"), path
        for path in forms:
            answer = await api.post(path, data={"reason": "r"})
            assert answer.status_code == 303 and answer.headers["location"] == "/admin/login", path
    api.cookies.clear()
    asked = await api.get("/admin/trace?ref=x")
    assert asked.headers["location"] == "/admin/login?next=/admin/trace%3Fref%3Dx"
    assert (await api.get("/admin")).headers["location"] == "/admin/"
    await settled(api, sid, "parked")  # no form did anything


@IN_PROCESS
async def test_a_wrong_secret_or_an_unknown_operator_is_refused_and_logout_ends_the_session(
    pipeline: PipelineGateway,
) -> None:
    api, _ = await start_with_operators(pipeline)
    for operator, secret in (("ops", "wrong-secret"), ("nobody", OPS_SECRET), ("", "")):
        form = await api.get("/admin/login")
        answer = await api.post(
            "/admin/login", data={"csrf": csrf_of(form), "operator": operator, "secret": secret}
        )
        assert answer.status_code == 401, operator
        assert "wrong secret" in answer.text and csrf_of(answer) == csrf_of(form)
        assert (await api.get("/admin/")).status_code == 303
    no_token = await api.post("/admin/login", data={"operator": "ops", "secret": OPS_SECRET})
    assert no_token.status_code == 403
    assert (await api.get("/admin/")).status_code == 303

    csrf = await log_in(api, "ops")
    assert (await api.post("/admin/logout", data={})).status_code == 403  # no token: still in
    assert (await api.get("/admin/")).status_code == 200
    out = await api.post("/admin/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert (await api.get("/admin/")).status_code == 303
    back = await api.post("/admin/login", data={"csrf": csrf, "operator": "ops", "secret": OPS_SECRET})
    assert back.status_code == 403  # the old session's token does not log in again

    await log_in(api, "ops")
    operators = gateway_of(api).settings.operators  # the configuration the dashboard reads
    operators[0] = operators[0].model_copy(update={"secret_hash": hash_secret("a new secret")})
    assert (await api.get("/admin/")).status_code == 303  # a changed secret ends the session
    await log_in(api, "ops", "a new secret")
    operators.pop(0)
    assert (await api.get("/admin/")).status_code == 303  # so does a removed operator


@IN_PROCESS
async def test_the_session_cookie_is_httponly_strict_and_the_pages_allow_no_script(
    pipeline: PipelineGateway,
) -> None:
    api, _ = await start_with_operators(pipeline)
    form = await api.get("/admin/login")
    cookie = form.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    assert "secure" not in cookie  # the test gateway's URL is http
    await log_in(api, "ops")
    for path in ("/admin/", "/admin/parked", "/admin/trace", "/admin/trace?ref=nothing"):
        answer = await api.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "unsafe" not in csp
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-type"].startswith("text/html")
    css = await api.get("/admin/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_an_operator_replays_and_rejects_parked_submissions_and_pauses_a_destination(
    pipeline: PipelineGateway,
) -> None:
    api, vendor = await start_with_operators(pipeline)
    refs = [await parked_one(api) for _ in range(2)]
    first, second = (r["submissionId"] for r in refs)
    csrf = await log_in(api, "musterstadt-ops")

    home = await api.get("/admin/")
    row = re.search(rf'<tr id="destination-{ACTIVE}">(.*?)</tr>', home.text, re.S)
    assert row and "active" in row.group(1) and '<td class="n">2</td>' in row.group(1)
    listed = await api.get("/admin/parked", params={"destination": ACTIVE})
    assert first in listed.text and second in listed.text and "422" in listed.text

    replayed = await api.post(
        f"/admin/parked/{first}/replay", data={"csrf": csrf, "reason": "vendor fixed E-4711"}
    )
    assert replayed.status_code == 303 and replayed.headers["location"] == f"/admin/trace?ref={first}"
    await settled(api, first, "delivered")
    traced = await api.get(replayed.headers["location"])
    assert "queued for delivery again" in traced.text  # the notice, shown once
    assert 'id="submission-status">delivered<' in traced.text
    assert "queued for delivery again" not in (await api.get(f"/admin/trace?ref={first}")).text
    by_case = await api.get("/admin/trace", params={"ref": refs[0]["caseId"]})
    assert first in by_case.text and "attempt 2 via" in by_case.text

    rejected = await api.post(
        f"/admin/parked/{second}/reject", data={"csrf": csrf, "reason": "vendor refuses", "back": "parked"}
    )
    assert rejected.status_code == 303 and rejected.headers["location"] == "/admin/parked"
    after = await api.get("/admin/parked")
    assert "rejected; the sender is told" in after.text and "No parked submissions" in after.text
    assert 'id="submission-status">rejected<' in (await api.get(f"/admin/trace?ref={second}")).text

    pausing = {"csrf": csrf, "reason": "DMS update"}
    paused = await api.post(f"/admin/destinations/{ACTIVE}/pause", data=pausing)
    assert paused.status_code == 303 and paused.headers["location"] == "/admin/"
    home = await api.get("/admin/")
    assert f"Destination {ACTIVE} paused." in home.text
    assert f'action="/admin/destinations/{ACTIVE}/resume"' in home.text
    resumed = await api.post(f"/admin/destinations/{ACTIVE}/resume", data={"csrf": csrf, "reason": "done"})
    assert resumed.status_code == 303
    assert f'action="/admin/destinations/{ACTIVE}/pause"' in (await api.get("/admin/")).text

    for path in ("/admin/", "/admin/parked", f"/admin/trace?ref={first}", f"/admin/trace?ref={second}"):
        assert_no_payload(await api.get(path))


@IN_PROCESS
async def test_forms_without_the_sessions_csrf_token_are_forbidden(pipeline: PipelineGateway) -> None:
    api, _ = await start_with_operators(pipeline)
    sid = (await parked_one(api))["submissionId"]
    await log_in(api, "ops")
    other = httpx.AsyncClient(transport=api._transport, base_url="http://gateway.test")
    async with other:
        foreign_csrf = await log_in(other, "ops")  # the same operator's other session
    for csrf in (None, "", "guess", foreign_csrf):
        fields = {"reason": "r"} | ({"csrf": csrf} if csrf is not None else {})
        for path in (
            f"/admin/parked/{sid}/replay",
            f"/admin/parked/{sid}/reject",
            f"/admin/destinations/{ACTIVE}/pause",
        ):
            answer = await api.post(path, data=fields)
            assert answer.status_code == 403, (path, csrf, answer.text)
            assert "CSRF" in answer.text
    await settled(api, sid, "parked")
    assert 'class="status active"' in (await api.get("/admin/")).text


@IN_PROCESS
async def test_an_operator_of_another_tenant_neither_sees_nor_touches_a_foreign_destination(
    pipeline: PipelineGateway,
) -> None:
    api, _ = await start_with_operators(pipeline)
    ref = await parked_one(api)
    sid = ref["submissionId"]
    csrf = await log_in(api, "elsewhere-ops")
    home = await api.get("/admin/")
    assert ACTIVE not in home.text and "No destinations." in home.text
    assert "validate" in home.text  # the shared stages, without the foreign deliver queue
    listed = await api.get("/admin/parked")
    assert sid not in listed.text and ACTIVE not in listed.text
    assert (await api.get("/admin/parked", params={"destination": ACTIVE})).status_code == 404
    assert (await api.get("/admin/trace", params={"ref": sid})).status_code == 404
    assert (await api.get("/admin/trace", params={"ref": ref["caseId"]})).status_code == 404
    form = {"csrf": csrf, "reason": "r"}
    assert (await api.post(f"/admin/parked/{sid}/replay", data=form)).status_code == 404
    assert (await api.post(f"/admin/parked/{sid}/reject", data=form)).status_code == 404
    assert (await api.post(f"/admin/destinations/{ACTIVE}/pause", data=form)).status_code == 403
    await settled(api, sid, "parked")
    api.cookies.clear()
    await log_in(api, "ops")
    assert 'class="status active"' in (await api.get("/admin/")).text


@IN_PROCESS
async def test_unknown_ids_and_bad_forms_are_pages_of_their_own_never_a_500(
    pipeline: PipelineGateway,
) -> None:
    api, _ = await start_with_operators(pipeline)
    sid = (await parked_one(api))["submissionId"]
    csrf = await log_in(api, "ops")
    form = {"csrf": csrf, "reason": "r"}
    expected = [
        ("GET", f"/admin/trace?ref={UNKNOWN}", None, 404),
        ("GET", "/admin/trace?ref=" + "x" * 500, None, 404),
        ("GET", "/admin/trace?ref=%27%3B--%3Cscript%3E", None, 404),
        ("GET", f"/admin/parked?destination={UNKNOWN}", None, 404),
        ("POST", f"/admin/parked/{UNKNOWN}/replay", form, 404),
        ("POST", f"/admin/parked/{UNKNOWN}/reject", form, 404),
        ("POST", f"/admin/destinations/{UNKNOWN}/pause", form, 404),
        ("POST", f"/admin/destinations/{ACTIVE}/explode", form, 400),
        ("POST", f"/admin/parked/{sid}/replay", {"csrf": csrf}, 422),
        ("POST", f"/admin/parked/{sid}/reject", {"csrf": csrf, "reason": "  "}, 422),
        ("POST", f"/admin/parked/{sid}/reject", {"csrf": csrf, "reason": "r" * 501}, 422),
        ("POST", f"/admin/parked/{sid}/reject", {"csrf": csrf, "reason": "r" * 20_000}, 413),
    ]
    for method, path, data, status in expected:
        answer = await api.request(method, path, data=data)
        assert answer.status_code == status, (method, path, answer.text)
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "<script" not in answer.text
    as_json = await api.post(f"/admin/parked/{sid}/replay", json=form)
    assert as_json.status_code == 415
    broken = await api.post(
        f"/admin/parked/{sid}/replay",
        content=b"csrf=\xff\xfe&reason=r",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert broken.status_code == 422
    await settled(api, sid, "parked")
