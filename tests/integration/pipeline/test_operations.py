"""What an operator sees of a destination whose vendor endpoint is down: ``xgw status`` (run as a
second process on the same database and broker) and ``/metrics`` show its backlog growing, the
submissions in retry among it, and the oldest one's age; ``xgw trace`` shows each attempt with its
number and the vendor's code; ``/readyz`` names a failing adapter check and an unreachable broker."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from gateway.api.operations import OperationsServices
from gateway.app import topology_of
from gateway.operations.status import read_status
from gateway.store.backlog import STATES
from gateway.store.readmodel import ReadModel
from tests.conftest import ACTIVE, LEIKA, OTHER
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import send
from tests.unit.adapters.vendor_server import Answer

XGW = str(Path(sys.executable).with_name("xgw"))


async def xgw(pipeline: PipelineGateway, api: httpx.AsyncClient, *args: str) -> tuple[int, str, str]:
    """``xgw <args>`` as its own process, configured by environment for this gateway's database
    and broker."""
    settings = gateway_of(api).settings
    env = {
        **os.environ,
        "XGW_DATA_DIR": str(pipeline.tmp_path / "cli-data"),
        "XGW_DATABASE_URL": settings.database,
        "XGW_DELIVERY__NAMESPACE": pipeline.namespace,
    }
    if settings.amqp_url is not None:
        env["XGW_AMQP_URL"] = settings.amqp_url.get_secret_value()
    process = await asyncio.create_subprocess_exec(
        XGW, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def status_json(pipeline: PipelineGateway, api: httpx.AsyncClient) -> dict[str, Any]:
    code, out, err = await xgw(pipeline, api, "status", "--json")
    assert code == 0, err
    return dict(json.loads(out))


def destination(status: dict[str, Any], destination_id: str) -> dict[str, Any]:
    return next(d for d in status["destinations"] if d["destination_id"] == destination_id)


def in_delivery(backlog: dict[str, Any]) -> int:
    """Submissions waiting for their next attempt, or in one (an attempt may run as status reads)."""
    return int(backlog["counts"]["retrying"] + backlog["counts"]["delivering"])


async def retrying(api: httpx.AsyncClient, count: int) -> bool:
    """Whether ``count`` submissions of ACTIVE wait for their next attempt."""
    gateway = gateway_of(api)
    status = await read_status(ReadModel(gateway.sessions), topology_of(gateway.settings), None)
    backlog = next(d for d in status.destinations if d.destination_id == ACTIVE)
    return backlog.counts["retrying"] == count


async def metrics(api: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_a_vendor_that_is_down_shows_a_growing_backlog_in_retry_in_status_and_metrics(
    pipeline: PipelineGateway,
) -> None:
    api, _, vendor = await pipeline.start(max_attempts=30, retry_delays_ms=[4000])
    vendor.script(*[Answer(503, body=b"maintenance")] * 60)
    auth = bearer(await token(api))

    first, _ = await send(api, auth, HTTP_LEIKA)
    await eventually(lambda: retrying(api, 1), within=20, what="the first submission in retry")
    before = destination(await status_json(pipeline, api), ACTIVE)
    assert in_delivery(before) == 1 and before["counts"]["parked"] == 0
    assert before["oldest_waiting_seconds"] > 0 and before["failures_last_hour"] >= 1

    await send(api, auth, HTTP_LEIKA)
    await eventually(lambda: retrying(api, 2), within=20, what="both submissions in retry")
    status = await status_json(pipeline, api)
    after = destination(status, ACTIVE)
    assert in_delivery(after) == 2 and after["counts"]["retrying"] >= 1  # not in the destination's queue
    assert after["oldest_waiting_seconds"] > before["oldest_waiting_seconds"]
    assert after["last_success"] is None
    stage = next(s for s in status["stages"] if s["name"] == f"deliver.{ACTIVE}")
    if gateway_of(api).settings.amqp_url is not None:
        assert status["broker"] == "rabbitmq"
        assert stage["consumers"] == 1 and stage["messages"] is not None
    else:
        assert status["broker"] == "in-process" and stage["consumers"] is None
    assert any(k["destination_id"] == ACTIVE and k["current"] and k["in_flight"] == 2 for k in status["keys"])

    samples = await metrics(api)
    backlog = {state: samples["xgw_backlog", (("destination", ACTIVE), ("state", state))] for state in STATES}
    assert backlog["retrying"] + backlog["delivering"] == 2 and backlog["retrying"] >= 1
    assert samples["xgw_oldest_waiting_seconds", (("destination", ACTIVE),)] > 0
    assert samples["xgw_delivery_attempts_total", (("adapter", "http"), ("outcome", "transient"))] >= 2
    assert samples["xgw_delivery_attempt_latency_seconds_count", (("adapter", "http"),)] >= 2
    validated = ("destination", ACTIVE), ("service", HTTP_LEIKA), ("status", "validated")
    assert samples["xgw_submissions", validated] == 2
    assert first["submissionId"]


async def test_trace_shows_each_attempt_with_its_number_and_the_vendors_code(
    pipeline: PipelineGateway,
) -> None:
    api, _, vendor = await pipeline.start(max_attempts=5, retry_delays_ms=[100])
    vendor.script(
        Answer(503, body=b"maintenance"), Answer(503), Answer(422, body=b"E-4711 Antrag unvollstaendig")
    )
    ref, attachment = await send(api, bearer(await token(api)), HTTP_LEIKA)
    await settled(api, ref["submissionId"], "parked")

    code, out, err = await xgw(pipeline, api, "trace", ref["caseId"], "--json")
    assert code == 0, err
    entries = json.loads(out)["entries"]
    kinds = [e["kind"] for e in entries]
    order = ["received", "attachment", "submitted", "validated", "attempt", "parked"]
    assert [kinds.index(kind) for kind in order] == sorted(kinds.index(kind) for kind in order)
    assert {"relayed", "event"} <= set(kinds)
    attempts = [e["fields"] for e in entries if e["kind"] == "attempt"]
    assert [(a["attempt"], a["outcome"], a["code"]) for a in attempts] == [
        (1, "transient", None),
        (2, "transient", None),
        (3, "permanent", "422"),
    ]
    assert all(a["adapter"] == "http" and a["error_class"] for a in attempts)
    parked = next(e for e in entries if e["kind"] == "parked")
    assert "HTTP 422" in parked["text"]
    assert (
        next(e for e in entries if e["kind"] == "attachment")["text"] == f"attachment {attachment} uploaded"
    )

    code, out, _ = await xgw(pipeline, api, "trace", ref["submissionId"])
    assert code == 0
    assert "attempt 3 via http: permanent" in out and "code=422" in out, out
    code, _, err = await xgw(pipeline, api, "trace", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and "no submission or case" in err


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_readyz_names_a_failing_adapter_check_and_healthz_stays_up(pipeline: PipelineGateway) -> None:
    down = {"name": "http", "options": {"url": f"http://127.0.0.1:{closed_port()}/submissions"}}
    api, _, _ = await pipeline.start(other_adapter=down)
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    response = await api.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith(":not-ready")
    assert f"adapter {OTHER} {LEIKA}: http:" in problem["detail"]
    checks = {c["name"]: c["ok"] for c in problem["errors"]}
    assert checks["database"] and checks["schemas"] and checks[f"adapter {ACTIVE} {HTTP_LEIKA}"]
    assert checks.get("broker", True)
    assert not checks[f"adapter {OTHER} {LEIKA}"]


async def test_readyz_is_ready_when_every_check_passes(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start()
    response = await api.get("/readyz")
    assert response.status_code == 200, response.text
    names = {c["name"] for c in response.json()["checks"] if c["ok"]}
    assert {"database", "schemas", f"adapter {ACTIVE} {HTTP_LEIKA}"} <= names
    assert ("broker" in names) == (gateway_of(api).settings.amqp_url is not None)


async def test_readyz_names_the_broker_when_a_process_cannot_reach_it(pipeline: PipelineGateway) -> None:
    api, _, _ = await pipeline.start()
    gateway = gateway_of(api)
    # a second process's settings, with RabbitMQ on a port where nothing listens
    port = closed_port()
    elsewhere = gateway.settings.model_copy(
        update={"amqp_url": SecretStr(f"amqp://guest:guest@127.0.0.1:{port}/")}
    )
    api.app.state.operations = OperationsServices.build(  # type: ignore[attr-defined]
        elsewhere,
        ReadModel(gateway.sessions),
        topology_of(elsewhere),
        gateway.validator.schemas.catalogue.knows,
        gateway.adapter_health,
        runs_stages=True,
    )
    response = await api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith(
        f"broker: cannot reach RabbitMQ at 127.0.0.1:{port} (vhost /)"
    )
