"""The operator's views without I/O: metrics from a status and tallies, ages in words, the aligned
status table, rejection problems read from a SET, and the status command's options."""

from __future__ import annotations

import base64
import datetime as dt
import json

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from gateway.broker.topology import Topology
from gateway.cli import _parser
from gateway.cli.operations import age, render_status
from gateway.operations.metrics import families, render
from gateway.operations.status import Stage, Status
from gateway.operations.trace import _problems
from gateway.store.backlog import DestinationBacklog, KeyNeed, OutboxLag
from gateway.store.tallies import LATENCY_BUCKETS_MS, Latency, Tallies

NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)
DEST = "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01"
TOPOLOGY = Topology(namespace="xgw")


def status() -> Status:
    backlog = DestinationBacklog(DEST, "Bauamt", "active")
    backlog.counts.update(retrying=3, parked=1)
    backlog.oldest_waiting = NOW - dt.timedelta(minutes=5)
    backlog.failures_last_hour = 7
    return Status(
        NOW,
        [Stage(f"deliver.{DEST}", f"xgw.deliver.{DEST}", 3, 1, 0, 2)],
        [backlog],
        [OutboxLag("callbacks", 2, NOW - dt.timedelta(seconds=30))],
        [KeyNeed(DEST, "kid-1", True, NOW.isoformat(), 4)],
        "rabbitmq",
    )


def tallies() -> Tallies:
    latency = Latency("http", tuple(min(i + 1, 4) for i in range(len(LATENCY_BUCKETS_MS))), 4, 1200)
    return Tallies(
        submissions={(DEST, "urn:leika:1", "validated"): 3},
        attempts={("http", "transient"): 7, ("http", "delivered"): 1},
        latencies=[latency],
        parked={"xgw.callbacks": 2, f"xgw.deliver.{DEST}": 1},
    )


def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(families(status(), tallies(), TOPOLOGY, rabbitmq=True)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_carry_backlog_age_attempts_latency_parks_outbox_and_queues() -> None:
    samples = scraped()
    assert samples["xgw_backlog", (("destination", DEST), ("state", "retrying"))] == 3
    assert samples["xgw_oldest_waiting_seconds", (("destination", DEST),)] == 300
    assert samples["xgw_delivery_attempts_total", (("adapter", "http"), ("outcome", "transient"))] == 7
    assert samples["xgw_delivery_attempt_latency_seconds_bucket", (("adapter", "http"), ("le", "0.01"))] == 1
    assert samples["xgw_delivery_attempt_latency_seconds_bucket", (("adapter", "http"), ("le", "+Inf"))] == 4
    assert samples["xgw_delivery_attempt_latency_seconds_sum", (("adapter", "http"),)] == 1.2
    assert samples["xgw_callback_failures_total", ()] == 2
    assert samples["xgw_parked_messages", (("queue", f"xgw.deliver.{DEST}"),)] == 1
    assert samples["xgw_outbox_oldest_seconds", (("route", "callbacks"),)] == 30
    assert samples["xgw_queue_consumers", (("queue", f"xgw.deliver.{DEST}"),)] == 2
    assert samples["xgw_broker_up", ()] == 1
    assert all(name.startswith("xgw_") for name, _ in samples)


def test_ages_read_as_words() -> None:
    assert age(NOW, None) == "-"
    assert age(NOW, NOW - dt.timedelta(seconds=42)) == "42s"
    assert age(NOW, NOW - dt.timedelta(seconds=192)) == "3m 12s"
    assert age(NOW, NOW - dt.timedelta(hours=2, minutes=5)) == "2h 5m"
    assert age(NOW, NOW - dt.timedelta(days=3, hours=4)) == "3d 4h"
    assert age(NOW, NOW + dt.timedelta(seconds=5)) == "0s"  # another host's clock ahead


def test_the_status_table_aligns_each_destination_on_one_line() -> None:
    console = Console(width=200, record=True)
    console.print(render_status(status()))
    text = console.export_text()
    row = next(line for line in text.splitlines() if line.startswith(DEST) and "Bauamt" in line)
    assert row.split()[1:] == ["Bauamt", "active", "0", "0", "3", "0", "1", "5m", "0s", "-", "7"]
    assert "broker: rabbitmq" in text and "kid-1" in text


def _segment(claims: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_a_rejections_problems_are_read_as_type_and_part_only() -> None:
    problem = {
        "type": "https://schema.fitko.de/fit-connect/events/problems/schema-violation",
        "title": "Schema-Fehler",
        "detail": "Name 'Erika Mustermann' ist zu lang",
        "instance": "data",
    }
    events = {"https://schema.fitko.de/fit-connect/events/reject-submission": {"problems": [problem]}}
    token = f"e30.{_segment({'events': events})}.sig"
    assert _problems(token) == [("schema-violation", "data")]
    assert _problems("not-a-token") == []


def test_status_watch_defaults_to_two_seconds() -> None:
    assert _parser().parse_args(["status"]).watch is None
    assert _parser().parse_args(["status", "--watch"]).watch == 2.0
    assert _parser().parse_args(["status", "--watch", "10", "--json"]).watch == 10.0
