"""The ``fit-connect-subscriber`` bindings of the configured destinations, by destination and by client."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.config.model import TenantConfig
from gateway.errors import ConfigError

__all__ = ["SubscriberBinding", "Subscribers"]


@dataclass(frozen=True)
class SubscriberBinding:
    """A destination a Fachverfahren picks up itself: its client and its public keys."""

    destination_id: str
    client_id: str
    secret_hash: str
    encryption_key: dict[str, Any]
    signing_key: dict[str, Any]


class Subscribers:
    """Every subscriber binding; one client may serve several destinations."""

    def __init__(self, bindings: Iterable[SubscriberBinding]) -> None:
        self._by_destination = {b.destination_id: b for b in bindings}

    @classmethod
    def from_tenants(cls, tenants: Iterable[TenantConfig], sender_ids: Iterable[str] = ()) -> Subscribers:
        """The bindings the config declares; raises ``ConfigError`` when a subscriber client has a
        sender client's id or two bindings of one client disagree on its secret."""
        bindings = [
            SubscriberBinding(
                str(d.id),
                d.subscriber.client_id,
                d.subscriber.secret_hash,
                dict(d.subscriber.encryption_key),
                dict(d.subscriber.signing_key),
            )
            for t in tenants
            for d in t.destinations
            if d.subscriber is not None
        ]
        senders = set(sender_ids)
        secrets: dict[str, str] = {}
        for b in bindings:
            path = f"destination {b.destination_id} subscriber"
            if b.client_id in senders:
                raise ConfigError(f"client id {b.client_id!r} is a sender client too", path=path)
            if secrets.setdefault(b.client_id, b.secret_hash) != b.secret_hash:
                raise ConfigError(f"client {b.client_id!r} has two different secrets", path=path)
        return cls(bindings)

    def __bool__(self) -> bool:
        return bool(self._by_destination)

    def of_destination(self, destination_id: str) -> SubscriberBinding | None:
        return self._by_destination.get(destination_id)

    def of_client(self, client_id: str) -> list[SubscriberBinding]:
        """The bindings of one subscriber client (empty: not a subscriber client)."""
        return [b for b in self._by_destination.values() if b.client_id == client_id]
