"""Queue names, arguments, retry levels and the exported RabbitMQ definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.broker.topology import (
    PARKED_DELIVERY_LIMIT,
    RetryPolicy,
    Topology,
    main,
    render_definitions,
)

DEFINITIONS = Path(__file__).resolve().parents[3] / "deploy" / "rabbitmq" / "definitions.json"


def test_names_are_prefixed_by_the_namespace() -> None:
    top = Topology(namespace="t1")
    assert top.validate_queue == "t1.validate"
    assert top.dead_queue == "t1.dead"
    assert top.deliver_queue("dest-1") == "t1.deliver.dest-1"
    assert top.parked_queue("t1.validate") == "t1.parked.validate"
    assert top.parked_queue("t1.deliver.dest-1") == "t1.parked.deliver.dest-1"
    assert top.retry_queue(0) == "t1.retry.0"
    assert Topology().validate_queue == "xgw.validate"
    assert Topology().route("validate") == "xgw.validate"


@pytest.mark.parametrize("namespace", ["", "A", "a.b", "a b", "-a", "x" * 64])
def test_bad_namespace_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Topology(namespace=namespace)


@pytest.mark.parametrize("destination", ["", "a.b", "../x", "a b", "-a", "x" * 101, "ä"])
def test_bad_destination_id_is_refused(destination: str) -> None:
    with pytest.raises(ValueError, match="destination"):
        Topology().deliver_queue(destination)


def test_uuid_destination_ids_are_accepted() -> None:
    assert Topology().deliver_queue("5c2e1b0e-8f8d-4b4e-9d33-3f1f5d1c7a10").endswith("7a10")


def test_foreign_queue_has_no_parked_queue_and_unknown_level_no_retry_queue() -> None:
    with pytest.raises(ValueError):
        Topology(namespace="a").parked_queue("b.validate")
    with pytest.raises(ValueError):
        Topology().retry_queue(len(RetryPolicy().delays_ms))


def test_every_queue_is_quorum_with_explicit_delivery_limit_and_reject_publish() -> None:
    top = Topology(delivery_limit=4)
    for spec in top.queues(["a", "b"]):
        assert spec.arguments["x-queue-type"] == "quorum", spec
        assert spec.arguments["x-overflow"] == "reject-publish", spec
        assert isinstance(spec.arguments["x-delivery-limit"], int), spec


def test_work_queues_dead_letter_at_least_once_to_the_dead_letter_queue() -> None:
    top = Topology(delivery_limit=4)
    specs = {s.name: s.arguments for s in top.queues(["a"])}
    for work in (top.validate_queue, top.callback_queue, top.deliver_queue("a")):
        args = specs[work]
        assert args["x-delivery-limit"] == 4
        assert args["x-dead-letter-exchange"] == ""
        assert args["x-dead-letter-routing-key"] == top.dead_queue
        assert args["x-dead-letter-strategy"] == "at-least-once"
        for kept in (top.parked_queue(work), top.dead_queue):
            assert specs[kept]["x-delivery-limit"] == PARKED_DELIVERY_LIMIT
            assert "x-dead-letter-exchange" not in specs[kept]


def test_retry_queues_hold_for_their_delay_then_route_back_by_the_original_routing_key() -> None:
    top = Topology(retry=RetryPolicy(delays_ms=(10, 20, 40)))
    specs = {s.name: s.arguments for s in top.queues()}
    for level, delay in enumerate((10, 20, 40)):
        args = specs[top.retry_queue(level)]
        assert args["x-message-ttl"] == delay
        assert args["x-dead-letter-exchange"] == ""
        assert "x-dead-letter-routing-key" not in args  # keeps the origin queue as routing key
    assert top.exchanges() == [top.retry_queue(level) for level in range(3)]


def test_dead_letter_targets_are_declared_before_their_sources() -> None:
    names = [s.name for s in Topology().queues(["a"])]
    assert names.index("xgw.dead") < names.index("xgw.deliver.a")
    assert names.index("xgw.dead") < names.index("xgw.validate")


def test_retry_delay_grows_per_attempt_and_is_capped_by_the_last_level() -> None:
    policy = RetryPolicy(max_attempts=10, delays_ms=(100, 400, 1600))
    assert [policy.delay_ms(a) for a in range(1, 7)] == [100, 400, 1600, 1600, 1600, 1600]
    assert [policy.level(a) for a in (1, 2, 3, 9)] == [0, 1, 2, 2]


def test_exponential_policy_is_capped() -> None:
    policy = RetryPolicy.exponential(base_ms=1000, cap_ms=60_000, factor=4)
    assert policy.delays_ms == (1000, 4000, 16000, 60000)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"delays_ms": ()}, {"delays_ms": (10, 0)}])
def test_invalid_retry_policy_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_definitions_hold_queues_exchanges_and_bindings() -> None:
    top = Topology()
    definitions = top.definitions(["demo"])
    assert {q["name"] for q in definitions["queues"]} == {s.name for s in top.queues(["demo"])}
    assert all(q["durable"] and not q["auto_delete"] for q in definitions["queues"])
    assert {(b["source"], b["destination"]) for b in definitions["bindings"]} == {
        (x, x) for x in top.exchanges()
    }
    assert {x["type"] for x in definitions["exchanges"]} == {"fanout"}


def test_committed_definitions_file_is_the_generators_output() -> None:
    """Regenerate with ``python -m gateway.broker demo > deploy/rabbitmq/definitions.json``."""
    assert DEFINITIONS.read_text() == render_definitions(Topology(), ["demo"])
    json.loads(DEFINITIONS.read_text())


def test_command_line_prints_the_definitions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--namespace", "ns", "a", "b"])
    assert capsys.readouterr().out == render_definitions(Topology(namespace="ns"), ["a", "b"])


def test_routes_stored_in_the_outbox_resolve_to_queues_of_the_namespace() -> None:
    top = Topology(namespace="t9")
    assert top.route("validate") == "t9.validate"
    assert top.route("callbacks") == "t9.callbacks"
    assert top.route("deliver.abc-1") == "t9.deliver.abc-1"
    with pytest.raises(ValueError):
        top.route("process")  # the old name is migrated away, not routed
    with pytest.raises(ValueError):
        top.route("deliver.../x")
