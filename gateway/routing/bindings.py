"""Adapter bindings: (destination, service) → a configured adapter instance.

Built once at start from the config's ``services[].adapter`` entries through the adapter
registry; a binding to a missing adapter or with invalid options stops start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.adapters import Adapter
from gateway.adapters.host import AdapterRegistry
from gateway.config.model import TenantConfig
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
    """A configured adapter: its name in the configuration and the instance."""

    name: str
    adapter: Adapter[Any]


class AdapterBindings:
    """The adapters this gateway delivers with, keyed by destination and LeiKa service."""

    def __init__(self, bindings: Mapping[tuple[str, str], Binding]) -> None:
        self._bindings = dict(bindings)

    @classmethod
    def build(cls, registry: AdapterRegistry, tenants: Iterable[TenantConfig]) -> AdapterBindings:
        """Raises ``ConfigError`` naming the binding that cannot be created."""
        bindings: dict[tuple[str, str], Binding] = {}
        for tenant in tenants:
            for dest in tenant.destinations:
                for service in dest.services:
                    if service.adapter is not None:
                        path = f"destination {dest.id} service {service.identifier} adapter"
                        adapter = registry.create(service.adapter.name, service.adapter.options, path=path)
                        bindings[(str(dest.id), service.identifier)] = Binding(service.adapter.name, adapter)
        return cls(bindings)

    def get(self, destination_id: str, service_identifier: str) -> Binding | None:
        return self._bindings.get((destination_id, service_identifier))

    def all(self) -> list[Adapter[Any]]:
        """Every adapter instance once (for start and close)."""
        return list({id(b.adapter): b.adapter for b in self._bindings.values()}.values())
