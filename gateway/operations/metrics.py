"""Prometheus metrics, derived from the read model at scrape time (the only home of
``prometheus_client``).

Every number comes from the database (and, on RabbitMQ, from the broker's queue counts) when
``/metrics`` is scraped, not from counters kept in a process: so any process answers for the
whole gateway, however many workers recorded the attempts, and a restart loses nothing. The
counters are counts of recorded rows; they only fall when retention removes rows, which
Prometheus reads as a counter reset.

==========================================  =========  =========================================
``xgw_submissions``                         gauge      by ``destination``, ``service``, ``status``
``xgw_backlog``                             gauge      by ``destination``, ``state`` (validating,
                                                       queued, retrying, delivering, parked)
``xgw_oldest_waiting_seconds``              gauge      by ``destination`` (0: nothing waits)
``xgw_last_delivery_timestamp_seconds``     gauge      by ``destination``
``xgw_delivery_attempts_total``             counter    by ``adapter``, ``outcome``
``xgw_delivery_attempt_latency_seconds``    histogram  by ``adapter``
``xgw_parked_messages``                     gauge      by ``queue``
``xgw_callback_failures_total``             counter    callbacks parked after their retries
``xgw_outbox_pending``                      gauge      by ``route``
``xgw_outbox_oldest_seconds``               gauge      by ``route``
``xgw_queue_messages``                      gauge      by ``queue`` (RabbitMQ: ready messages)
``xgw_queue_consumers``                     gauge      by ``queue`` (RabbitMQ)
``xgw_broker_up``                           gauge      1 if RabbitMQ answered (RabbitMQ only)
==========================================  =========  =========================================
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from gateway.broker.topology import Topology
from gateway.operations.status import Status, read_status
from gateway.store.readmodel import ReadModel
from gateway.store.tallies import LATENCY_BUCKETS_MS, Tallies

__all__ = ["CONTENT_TYPE", "families", "render", "scrape"]

CONTENT_TYPE = CONTENT_TYPE_LATEST


async def scrape(read: ReadModel, topology: Topology, amqp_url: str | None) -> bytes:
    """The exposition text of every metric, read now."""
    status = await read_status(read, topology, amqp_url)
    return render(families(status, await read.tallies(), topology, amqp_url is not None))


def render(metrics: list[Metric]) -> bytes:
    """The exposition text of ``metrics``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return generate_latest(registry)


class _Fixed:
    """A collector that yields what was read before the (synchronous) collection."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def families(status: Status, tallies: Tallies, topology: Topology, rabbitmq: bool) -> list[Metric]:
    """The metric families of a status and the tallies taken with it."""
    submissions = _gauge(
        "xgw_submissions",
        "Submissions by destination, service and status",
        ["destination", "service", "status"],
    )
    for (destination, service, state), count in sorted(tallies.submissions.items()):
        submissions.add_metric([destination, service, state], count)
    backlog = _gauge(
        "xgw_backlog", "Submissions in flight by destination and state", ["destination", "state"]
    )
    oldest = _gauge("xgw_oldest_waiting_seconds", "Age of the oldest waiting submission", ["destination"])
    success = _gauge(
        "xgw_last_delivery_timestamp_seconds", "When the last delivery succeeded", ["destination"]
    )
    for d in status.destinations:
        for state, count in d.counts.items():
            backlog.add_metric([d.destination_id, state], count)
        age = (status.at - d.oldest_waiting).total_seconds() if d.oldest_waiting else 0.0
        oldest.add_metric([d.destination_id], max(age, 0.0))
        if d.last_success is not None:
            success.add_metric([d.destination_id], d.last_success.timestamp())
    attempts = CounterMetricFamily(
        "xgw_delivery_attempts", "Adapter calls by outcome", labels=["adapter", "outcome"]
    )
    for (adapter, outcome), count in sorted(tallies.attempts.items()):
        attempts.add_metric([adapter, outcome], count)
    latency = HistogramMetricFamily(
        "xgw_delivery_attempt_latency_seconds", "Duration of adapter calls", labels=["adapter"]
    )
    for lat in tallies.latencies:
        buckets = [(f"{b / 1000:g}", float(n)) for b, n in zip(LATENCY_BUCKETS_MS, lat.buckets, strict=True)]
        latency.add_metric([lat.adapter], [*buckets, ("+Inf", float(lat.count))], lat.sum_ms / 1000)
    parked = _gauge("xgw_parked_messages", "Parked messages on record by work queue", ["queue"])
    for queue, count in sorted(tallies.parked.items()):
        parked.add_metric([queue], count)
    callbacks = CounterMetricFamily("xgw_callback_failures", "Callbacks parked after their retries")
    callbacks.add_metric([], tallies.parked.get(topology.callback_queue, 0))
    pending = _gauge("xgw_outbox_pending", "Outbox rows not yet confirmed by the broker", ["route"])
    lag = _gauge("xgw_outbox_oldest_seconds", "Age of the oldest unconfirmed outbox row", ["route"])
    for row in status.outbox:
        pending.add_metric([row.route], row.pending)
        lag.add_metric([row.route], (status.at - row.oldest).total_seconds() if row.oldest else 0.0)
    out: list[Metric] = [
        submissions,
        backlog,
        oldest,
        success,
        attempts,
        latency,
        parked,
        callbacks,
        pending,
        lag,
    ]
    if rabbitmq:
        out += _broker(status)
    return out


def _broker(status: Status) -> list[Metric]:
    messages = _gauge("xgw_queue_messages", "Messages ready in a work queue (RabbitMQ)", ["queue"])
    consumers = _gauge("xgw_queue_consumers", "Consumers of a work queue (RabbitMQ)", ["queue"])
    for stage in status.stages:
        if stage.messages is not None and stage.consumers is not None:
            messages.add_metric([stage.queue], stage.messages)
            consumers.add_metric([stage.queue], stage.consumers)
    up = _gauge("xgw_broker_up", "Whether RabbitMQ answered the scrape", [])
    up.add_metric([], 1.0 if status.broker == "rabbitmq" else 0.0)
    return [messages, consumers, up]
