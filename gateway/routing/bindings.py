"""Adapter bindings: (destination, service) → a configured adapter instance.

Built once at start from the config's ``services[].adapter`` entries through the adapter
registry; a binding to a missing adapter or with invalid options stops start-up. Each binding
carries its retry policy and call timeout: its own ``retry`` entries over the gateway's defaults
(``delivery.max_attempts``, ``retry_delays_ms``, ``deliver_timeout_seconds``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.adapters import Adapter
from gateway.adapters.host import AdapterRegistry
from gateway.broker import RetryPolicy
from gateway.config.model import RetryConfig, TenantConfig
from gateway.errors import ConfigError


def binding_problem(registry: AdapterRegistry, name: str, options: Mapping[str, Any]) -> str | None:
    """Why a binding cannot work (unknown adapter, invalid options), or ``None``."""
    try:
        registry.create(name, options)
    except ConfigError as exc:
        return exc.detail
    return None


@dataclass(frozen=True)
class Binding:
    """A configured adapter: its name in the configuration, the instance, its retry policy, the
    longest call in seconds and the configured name of the service it delivers."""

    name: str
    adapter: Adapter[Any]
    retry: RetryPolicy
    timeout: float
    service_name: str


def retry_policy(config: RetryConfig, default: RetryPolicy) -> RetryPolicy:
    """A binding's retry policy: its own entries over ``default``."""
    return RetryPolicy(
        max_attempts=config.max_attempts or default.max_attempts,
        delays_ms=config.delays_ms or default.delays_ms,
    )


class AdapterBindings:
    """The adapters this gateway delivers with, keyed by destination and LeiKa service."""

    def __init__(self, bindings: Mapping[tuple[str, str], Binding]) -> None:
        self._bindings = dict(bindings)

    @classmethod
    def build(
        cls,
        registry: AdapterRegistry,
        tenants: Iterable[TenantConfig],
        default: RetryPolicy,
        timeout: float,
    ) -> AdapterBindings:
        """Bindings with their own ``retry`` over ``default`` and ``timeout`` (seconds); raises
        ``ConfigError`` naming the binding that cannot be created."""
        bindings: dict[tuple[str, str], Binding] = {}
        for tenant in tenants:
            for dest in tenant.destinations:
                for service in dest.services:
                    if (bound := service.adapter) is not None:
                        path = f"destination {dest.id} service {service.identifier} adapter"
                        adapter = registry.create(bound.name, bound.options, path=path)
                        bindings[(str(dest.id), service.identifier)] = Binding(
                            bound.name,
                            adapter,
                            retry_policy(bound.retry, default),
                            bound.retry.timeout_seconds or timeout,
                            service.name,
                        )
        return cls(bindings)

    def get(self, destination_id: str, service_identifier: str) -> Binding | None:
        return self._bindings.get((destination_id, service_identifier))

    def all(self) -> list[Adapter[Any]]:
        """Every adapter instance once (for start and close)."""
        return list({id(b.adapter): b.adapter for b in self._bindings.values()}.values())
