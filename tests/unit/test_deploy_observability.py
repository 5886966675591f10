"""The monitoring files in ``deploy/``: the Prometheus alert rules and scrape configuration, the
Grafana dashboard and RabbitMQ's plugins.

Every series a rule or a panel reads must be one the gateway exports: the names are taken from
``gateway/operations/metrics.py`` and checked against a real ``/metrics`` answer. With ``promtool``
installed (Debian's ``prometheus`` package; ``.ci/run`` installs it) the rules and configuration are
checked by it and each alert is driven by synthetic series through ``promtool test rules``; without
it those tests skip, but fail when ``CI=true``.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.broker.topology import Topology
from gateway.operations.metrics import families, render
from gateway.operations.status import Stage, Status
from gateway.store.tallies import Tallies
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "xoev-gateway.json"
METRICS_MODULE = ROOT / "gateway" / "operations" / "metrics.py"
PLUGINS = ROOT / "deploy" / "rabbitmq" / "enabled_plugins"

#: Families the gateway exports only where RabbitMQ is the broker: the in-process gateway of the
#: ``api`` fixture does not show them; test_rabbitmq_families_come_with_a_rabbitmq_broker does.
RABBITMQ_ONLY = {"xgw_queue_messages", "xgw_queue_consumers", "xgw_broker_up"}

_FAMILY_CLASSES = {
    "_gauge": "gauge",
    "GaugeMetricFamily": "gauge",
    "CounterMetricFamily": "counter",
    "HistogramMetricFamily": "histogram",
}
_SUFFIXES = {"gauge": ("",), "counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
_METRIC = re.compile(r"\bxgw_[a-z0-9_]+\b")


def declared_families() -> dict[str, str]:
    """Family name → type, read from the calls that build the families in the metrics module."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(METRICS_MODULE.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FAMILY_CLASSES
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found[node.args[0].value] = _FAMILY_CLASSES[node.func.id]
    return found


def series_names(families_by_type: dict[str, str]) -> dict[str, str]:
    """Series name as Prometheus stores it (``_total``, ``_bucket`` …) → its family."""
    return {
        family + suffix: family for family, kind in families_by_type.items() for suffix in _SUFFIXES[kind]
    }


def rules() -> list[dict[str, Any]]:
    document: dict[str, Any] = yaml.safe_load(ALERTS.read_text("utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert(name: str) -> dict[str, Any]:
    return next(rule for rule in rules() if rule["alert"] == name)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text("utf-8"))
    return loaded


def dashboard_queries() -> list[str]:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    variables = [v["definition"] for v in dashboard()["templating"]["list"] if v["type"] == "query"]
    return [t["expr"] for p in panels for t in p["targets"]] + variables


def referenced_series(exprs: list[str] | None = None) -> set[str]:
    """The ``xgw_`` series read by ``exprs`` (default: every rule and dashboard query)."""
    if exprs is None:
        exprs = [rule["expr"] for rule in rules()] + dashboard_queries()
    return {name for expr in exprs for name in _METRIC.findall(expr)}


# --- structure, without promtool ------------------------------------------------------------


def test_the_metrics_module_declares_the_documented_families() -> None:
    declared = declared_families()
    assert declared["xgw_delivery_attempts"] == "counter"
    assert declared["xgw_delivery_attempt_latency_seconds"] == "histogram"
    assert declared["xgw_oldest_waiting_seconds"] == "gauge"
    assert declared.keys() >= RABBITMQ_ONLY


def test_every_alert_has_a_duration_a_severity_a_summary_and_a_runbook_naming_xgw_commands() -> None:
    assert len(rules()) >= 8
    for rule in rules():
        name = rule["alert"]
        assert re.fullmatch(r"Xgw[A-Za-z]+", name), name
        assert rule["expr"].strip(), name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert re.search(r"`xgw (status|trace|parked|adapters)", annotations["runbook"]), name
        assert "docs/operations.md#" in annotations["runbook"], name


def test_the_runbooks_point_at_status_trace_and_parked_replay() -> None:
    runbooks = " ".join(rule["annotations"]["runbook"] for rule in rules())
    assert "`xgw status`" in runbooks
    assert "`xgw trace <submissionId>`" in runbooks
    assert "xgw parked replay" in runbooks


def test_every_runbook_anchor_is_a_heading_of_the_operations_page() -> None:
    page = (ROOT / "docs" / "operations.md").read_text("utf-8")
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in page.splitlines()
        if line.startswith("#")
    }
    for rule in rules():
        for anchor in re.findall(r"docs/operations\.md#([a-z0-9-]+)", rule["annotations"]["runbook"]):
            assert anchor in headings, (rule["alert"], anchor)


def test_alert_rules_and_dashboard_read_only_series_the_metrics_module_declares() -> None:
    known = series_names(declared_families())
    unknown = referenced_series() - known.keys()
    assert not unknown, f"not exported by gateway/operations/metrics.py: {sorted(unknown)}"
    for rule in rules():
        assert _METRIC.search(rule["expr"]), rule["alert"]


def test_the_dashboard_reads_every_family_through_the_datasource_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    used = {series_names(declared_families())[name] for name in referenced_series(dashboard_queries())}
    assert used == set(declared_families()), f"families without a panel: {set(declared_families()) - used}"


def test_the_dashboard_shows_latency_quantiles_from_the_histogram_buckets() -> None:
    quantiles = [q for q in dashboard_queries() if q.startswith("histogram_quantile(")]
    levels = {level for q in quantiles for level in re.findall(r"^histogram_quantile\(([0-9.]+),", q)}
    assert levels == {"0.5", "0.9", "0.99"}
    assert all("xgw_delivery_attempt_latency_seconds_bucket" in q and "le)" in q for q in quantiles)


def test_rabbitmq_enables_the_management_and_prometheus_plugins() -> None:
    text = PLUGINS.read_text("utf-8").strip()
    match = re.fullmatch(r"\[([a-z_]+(?:,\s*[a-z_]+)*)\]\.", text)
    assert match, "enabled_plugins must be one Erlang list term ending in a full stop"
    assert {p.strip() for p in match.group(1).split(",")} == {"rabbitmq_management", "rabbitmq_prometheus"}
    json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text("utf-8"))


# --- the series a gateway really exports ----------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the families do not depend on the database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


def exposed(text: str) -> dict[str, str]:
    """Family name → type of an exposition text (families without samples included)."""
    return {f.name: f.type for f in text_string_to_metric_families(text)}


async def test_the_metrics_endpoint_exports_every_series_the_rules_and_dashboard_read(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/metrics")
    assert response.status_code == 200
    served = series_names(exposed(response.text))
    missing = {name for name in referenced_series() if name not in served}
    # the in-process broker has no queue counts; the RabbitMQ families are checked below
    assert missing == {name for name in referenced_series() if name in RABBITMQ_ONLY}


def test_rabbitmq_families_come_with_a_rabbitmq_broker() -> None:
    now = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)
    stage = Stage("validate", "xgw.validate", 0, 0, messages=0, consumers=1)
    status = Status(now, [stage], [], [], [], "rabbitmq")
    text = render(families(status, Tallies({}, {}, [], {}), Topology(namespace="xgw"), rabbitmq=True))
    served = series_names(exposed(text.decode()))
    assert served.keys() >= RABBITMQ_ONLY
    assert {name for name in referenced_series() if name not in served} == set()


# --- promtool -------------------------------------------------------------------------------


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool not installed: apt-get install prometheus"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: .ci/run installs it)")
        pytest.skip(reason)
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_promtool_accepts_the_alert_rules() -> None:
    done = run("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_accepts_the_scrape_configuration_and_its_rule_file() -> None:
    done = run("check", "config", str(PROMETHEUS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(ALERTS.relative_to(ROOT)) in done.stdout or "alerts.yml" in done.stdout


@dataclass(frozen=True)
class Scenario:
    """Series sampled every minute, and at ``at`` the labels of each alert expected firing."""

    series: dict[str, str]
    at: str
    firing: dict[str, list[dict[str, str]]] = field(default_factory=dict)


DAY = 86_400
HEALTHY = {
    'xgw_oldest_waiting_seconds{destination="d1"}': "0+10x90",
    'xgw_backlog{destination="d1",state="queued"}': "2x90",
    'xgw_backlog{destination="d1",state="parked"}': "0x90",
    'xgw_parked_messages{queue="xgw.deliver.d1"}': "3x90",
    "xgw_callback_failures_total": "1x90",
    'xgw_outbox_oldest_seconds{route="validate"}': "2x90",
    'xgw_delivery_attempts_total{adapter="http",outcome="delivered"}': "0+5x90",
    'xgw_delivery_attempts_total{adapter="http",outcome="transient"}': "0+1x90",
    'xgw_queue_consumers{queue="xgw.validate"}': "2x90",
    "xgw_broker_up": "1x90",
}

SCENARIOS = {
    "a healthy gateway raises no alert": Scenario(HEALTHY, "90m", {}),
    "a submission waiting over an hour warns for its destination, after ten minutes": Scenario(
        {
            'xgw_oldest_waiting_seconds{destination="d1"}': "0+60x90",
            'xgw_oldest_waiting_seconds{destination="d2"}': "0x90",
        },
        "75m",
        {"XgwSubmissionWaitingLong": [{"destination": "d1"}], "XgwSubmissionNearNoticeDeadline": []},
    ),
    "the waiting alert holds back for its ten minutes": Scenario(
        {'xgw_oldest_waiting_seconds{destination="d1"}': "0+60x90"}, "65m", {"XgwSubmissionWaitingLong": []}
    ),
    "two days waiting is near FIT-Connect's day-3 notice, twelve near its day-14 rejection": Scenario(
        {
            'xgw_oldest_waiting_seconds{destination="d1"}': f"{2 * DAY + 100}+60x30",
            'xgw_oldest_waiting_seconds{destination="d2"}': f"{12 * DAY + 100}+60x30",
            'xgw_oldest_waiting_seconds{destination="d3"}': f"{DAY}+60x30",
        },
        "20m",
        {
            "XgwSubmissionNearNoticeDeadline": [{"destination": "d1"}, {"destination": "d2"}],
            "XgwSubmissionNearRejectDeadline": [{"destination": "d2"}],
        },
    ),
    "parked submissions of a destination alert until they are replayed or rejected": Scenario(
        {
            'xgw_backlog{destination="d1",state="parked"}': "0 0 2x20 0x20",
            'xgw_backlog{destination="d1",state="queued"}': "4x40",
            'xgw_backlog{destination="d2",state="parked"}': "0x40",
        },
        "12m",
        {"XgwSubmissionsParked": [{"destination": "d1"}]},
    ),
    "a new park on any queue alerts, and resolves half an hour later": Scenario(
        {
            'xgw_parked_messages{queue="xgw.callbacks"}': "0x10 1x80",
            'xgw_parked_messages{queue="xgw.validate"}': "5x90",
        },
        "20m",
        {"XgwMessageParked": [{"queue": "xgw.callbacks"}]},
    ),
    "the park alert is gone once no park happened for half an hour": Scenario(
        {'xgw_parked_messages{queue="xgw.callbacks"}': "0x10 1x80"}, "60m", {"XgwMessageParked": []}
    ),
    "a parked callback alerts": Scenario(
        {"xgw_callback_failures_total": "0x10 1x50"}, "20m", {"XgwCallbackFailures": [{}]}
    ),
    "an outbox row unconfirmed for five minutes alerts for its route": Scenario(
        {
            'xgw_outbox_oldest_seconds{route="validate"}': "0+60x30",
            'xgw_outbox_oldest_seconds{route="callbacks"}': "0x30",
        },
        "15m",
        {"XgwOutboxLag": [{"route": "validate"}]},
    ),
    "an adapter failing without a success alerts; one that also delivers does not": Scenario(
        {
            'xgw_delivery_attempts_total{adapter="down",outcome="transient"}': "0+1x60",
            'xgw_delivery_attempts_total{adapter="flaky",outcome="transient"}': "0+1x60",
            'xgw_delivery_attempts_total{adapter="flaky",outcome="delivered"}': "0+1x60",
            'xgw_delivery_attempts_total{adapter="refused",outcome="permanent"}': "0+2x60",
            'xgw_delivery_attempts_total{adapter="idle",outcome="delivered"}': "7x60",
        },
        "40m",
        {"XgwDestinationFailing": [{"adapter": "down"}, {"adapter": "refused"}]},
    ),
    "an adapter that delivered until recently is not failing yet": Scenario(
        {
            'xgw_delivery_attempts_total{adapter="broke",outcome="delivered"}': "0+1x10 10x50",
            'xgw_delivery_attempts_total{adapter="broke",outcome="transient"}': "0x10 1+1x50",
        },
        "35m",
        {"XgwDestinationFailing": []},
    ),
    "half an hour after its last success a failing adapter alerts": Scenario(
        {
            'xgw_delivery_attempts_total{adapter="broke",outcome="delivered"}': "0+1x10 10x50",
            'xgw_delivery_attempts_total{adapter="broke",outcome="transient"}': "0x10 1+1x50",
        },
        "45m",
        {"XgwDestinationFailing": [{"adapter": "broke"}]},
    ),
    "a work queue without consumers alerts": Scenario(
        {
            'xgw_queue_consumers{queue="xgw.validate"}': "1x5 0x20",
            'xgw_queue_consumers{queue="xgw.deliver.d1"}': "2x25",
        },
        "12m",
        {"XgwQueueWithoutConsumers": [{"queue": "xgw.validate"}]},
    ),
    "a broker that stops answering alerts after two minutes": Scenario(
        {"xgw_broker_up": "1x3 0x10"}, "8m", {"XgwBrokerDown": [{}]}
    ),
    "no gateway metrics at all alert": Scenario(
        {'xgw_backlog{destination="d1",state="queued"}': "1x30"}, "15m", {"XgwMetricsMissing": [{}]}
    ),
}


@pytest.fixture(scope="module")
def rules_without_annotations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The rules with their annotations dropped: ``promtool test rules`` compares annotations
    exactly, and the scenarios are about when an alert fires and with which labels."""
    document = yaml.safe_load(ALERTS.read_text("utf-8"))
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    path = tmp_path_factory.mktemp("rules") / "alerts.yml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    yield path


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_alerts_fire_on_synthetic_series(
    scenario: Scenario, rules_without_annotations: Path, tmp_path: Path
) -> None:
    binary = promtool()
    expected = scenario.firing or {rule["alert"]: [] for rule in rules()}
    cases = [
        {
            "eval_time": scenario.at,
            "alertname": name,
            "exp_alerts": [{"exp_labels": {**alert(name)["labels"], **labels}} for labels in firing],
        }
        for name, firing in expected.items()
    ]
    test = {
        "rule_files": [str(rules_without_annotations)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in scenario.series.items()],
                "alert_rule_test": cases,
            }
        ],
    }
    path = tmp_path / "alerts.test.yml"
    path.write_text(yaml.safe_dump(test), "utf-8")
    done = subprocess.run([binary, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
