"""A binding's retry policy: its own delays, budget and timeout over the ``delivery`` settings,
settled onto the shared delay levels, and validated with key paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.adapters.host import AdapterRegistry
from gateway.broker import Retry, RetryPolicy, Settlement, Wait, settle
from gateway.cli import main
from gateway.config.check import check_settings, validation_problems
from gateway.config.model import RetryConfig
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.routing.bindings import AdapterBindings, retry_policy
from tests.conftest import ACTIVE, LEIKA, XBAU

LEVELS = RetryPolicy(max_attempts=8, delays_ms=(1_000, 4_000, 16_000, 64_000))


def test_a_policy_of_its_own_sets_the_budget_and_rounds_each_delay_up_to_a_level() -> None:
    own = RetryPolicy(max_attempts=3, delays_ms=(2_000, 16_000))
    assert settle(Retry("down", policy=own), 1, LEVELS) == Settlement("delay", "down", 1, 2)  # 2 s → 4 s
    assert settle(Retry("down", policy=own), 2, LEVELS).level == 2  # exactly 16 s
    assert settle(Retry("down"), 3, LEVELS).action == "delay"  # the queue's budget is 8
    parked = settle(Retry("down", policy=own), 3, LEVELS)
    assert parked == Settlement("park", "retries exhausted after 3 attempts: down")


def test_retry_after_is_capped_by_the_longest_delay_of_the_works_own_policy() -> None:
    own = RetryPolicy(max_attempts=5, delays_ms=(1_000, 4_000))
    assert settle(Retry("429", 3600, own), 1, LEVELS).level == 1  # 4 s, not the 64 s level
    assert settle(Retry("429", 3, own), 1, LEVELS).level == 1  # longer than the 1 s backoff
    assert settle(Retry("429", 0.5, own), 2, LEVELS).level == 1  # never sooner than the backoff
    assert settle(Retry("429", 3600), 1, LEVELS).level == 3  # the queue's policy: its longest level


def test_levels_in_any_order_serve_the_shortest_delay_at_least_as_long() -> None:
    shuffled = RetryPolicy(delays_ms=(16_000, 1_000, 4_000))
    assert [shuffled.level_at_least(ms) for ms in (500, 1_000, 2_000, 5_000, 99_000)] == [1, 1, 2, 0, 0]
    assert settle(Wait(3.0), 2, shuffled) == Settlement("delay", "busy", 2, 2)


def test_a_binding_takes_its_own_entries_and_the_default_for_the_rest() -> None:
    assert retry_policy(RetryConfig(), LEVELS) == LEVELS
    assert retry_policy(RetryConfig(max_attempts=2), LEVELS) == RetryPolicy(2, LEVELS.delays_ms)
    own = RetryConfig(delays_seconds=[0.25, 1.5])
    assert retry_policy(own, LEVELS) == RetryPolicy(LEVELS.max_attempts, (250, 1_500))


def _tenants(retry: dict[str, Any] | None, name: str = "demo-ok") -> list[dict[str, Any]]:
    adapter: dict[str, Any] = {"name": name} | ({"retry": retry} if retry is not None else {})
    service = {
        "identifier": LEIKA,
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
        "adapter": adapter,
    }
    return [{"id": "musterstadt", "destinations": [{"id": ACTIVE, "services": [service]}]}]


def test_bindings_carry_their_own_timeout_or_the_default() -> None:
    registry = AdapterRegistry.discover()
    settings = Settings.model_validate({"tenants": _tenants({"timeout_seconds": 2.5, "max_attempts": 2})})
    bound = AdapterBindings.build(registry, settings.tenants, LEVELS, 300.0).get(ACTIVE, LEIKA)
    assert bound is not None and (bound.name, bound.timeout, bound.retry.max_attempts) == ("demo-ok", 2.5, 2)
    plain = Settings.model_validate({"tenants": _tenants(None)})
    bound = AdapterBindings.build(registry, plain.tenants, LEVELS, 300.0).get(ACTIVE, LEIKA)
    assert bound is not None and (bound.timeout, bound.retry) == (300.0, LEVELS)


WHERE = "tenants[0].destinations[0].services[0].adapter.retry"


@pytest.mark.parametrize(
    ("retry", "problem"),
    [
        ({"max_attempts": 0}, f"{WHERE}.max_attempts"),
        ({"delays_seconds": []}, f"{WHERE}.delays_seconds"),
        ({"delays_seconds": [1, -2]}, f"{WHERE}.delays_seconds[1]"),
        ({"timeout_seconds": 0}, f"{WHERE}.timeout_seconds"),
        ({"timeout_seconds": 7200}, f"{WHERE}.timeout_seconds"),
        ({"delay": 5}, f"{WHERE}.delay"),
    ],
)
def test_bad_retry_values_are_reported_with_their_key_path(retry: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"tenants": _tenants(retry)})
    assert [p.path for p in validation_problems(caught.value)] == [problem]


def test_config_check_reports_a_delay_longer_than_the_longest_level(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "delivery": {"retry_delays_ms": [1_000, 60_000]},
            "tenants": _tenants({"delays_seconds": [30, 60, 120]}),
        }
    )
    keys = KeyStore(tmp_path)
    keys.generate(ACTIVE, "encryption")
    assert [str(p) for p in check_settings(settings, keys)] == [
        f"{WHERE}.delays_seconds[2]: longer than the longest delay level, 60 s: "
        "add it to delivery.retry_delays_ms"
    ]


def test_xgw_config_check_names_the_bad_retry_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f"""
[[tenants]]
id = "musterstadt"
[[tenants.destinations]]
id = "{ACTIVE}"
[[tenants.destinations.services]]
identifier = "{LEIKA}"
submission_schemas = [{{schema_uri = "{XBAU}", mime_type = "application/xml"}}]
adapter = {{name = "demo-ok", retry = {{max_attempts = 0, timeout_seconds = 30}}}}
"""
    )
    assert main(["--config", str(config), "config", "check"]) != 0
    assert f"{WHERE}.max_attempts: Input should be greater than or equal to 1" in capsys.readouterr().err
