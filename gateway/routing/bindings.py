"""Adapter bindings: (destination, service) → a configured adapter instance.

Built once at start from the config's ``services[].adapter`` entries through the adapter
registry; a binding to a missing adapter or with invalid options stops start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.adapters import Adapter, AdapterRegistry
from gateway.config.model import TenantConfig
from gateway.errors import ConfigError


def binding_problem(registry: AdapterRegistry, name: str, options: Mapping[str, Any]) -> str | None:
    """Why a binding cannot work (unknown adapter, invalid options), or ``None``."""
    try:
        registry.create(name, options)
    except ConfigError as exc:
        return exc.detail
    return None


class AdapterBindings:
    """The adapters this gateway delivers with, keyed by destination and LeiKa service."""

    def __init__(self, adapters: Mapping[tuple[str, str], Adapter[Any]]) -> None:
        self._adapters = dict(adapters)

    @classmethod
    def build(cls, registry: AdapterRegistry, tenants: Iterable[TenantConfig]) -> AdapterBindings:
        """Raises ``ConfigError`` naming the binding that cannot be created."""
        adapters: dict[tuple[str, str], Adapter[Any]] = {}
        for tenant in tenants:
            for dest in tenant.destinations:
                for service in dest.services:
                    if service.adapter is not None:
                        path = f"destination {dest.id} service {service.identifier} adapter"
                        adapter = registry.create(service.adapter.name, service.adapter.options, path=path)
                        adapters[(str(dest.id), service.identifier)] = adapter
        return cls(adapters)

    def get(self, destination_id: str, service_identifier: str) -> Adapter[Any] | None:
        return self._adapters.get((destination_id, service_identifier))

    def all(self) -> list[Adapter[Any]]:
        return list({id(a): a for a in self._adapters.values()}.values())
