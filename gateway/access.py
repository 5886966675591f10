"""Who may send what where: destination state, offered services and the client's reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import ForbiddenError, InvalidRequestError, NotFoundError
from gateway.store.models import Destination


@dataclass(frozen=True)
class Principal:
    """An authenticated sender client and what it may send to."""

    client_id: str
    destinations: frozenset[str]
    regions: frozenset[str]

    def may_reach(self, destination_id: str, service: dict[str, Any]) -> bool:
        if destination_id in self.destinations or "DE" in self.regions:
            return True
        return any(region.startswith(prefix) for region in service["regions"] for prefix in self.regions)


def offered_service(destination: Destination | None, identifier: str, region: str | None) -> dict[str, Any]:
    """The destination's service with this LeiKa identifier, if the destination accepts submissions.

    Raises ``NotFoundError`` (unknown destination), ``InvalidRequestError`` (not active, service
    not offered, region not covered).
    """
    if destination is None or destination.status == "decommissioned":
        raise NotFoundError("destination not found", slug="destination-not-found")
    if destination.status != "active":
        raise InvalidRequestError(
            f"destination is {destination.status}, not active", slug="destination-state-invalid"
        )
    for service in destination.services:
        assert isinstance(service, dict)
        if service["identifier"] == identifier:
            if region is not None and region not in service["regions"]:
                raise InvalidRequestError(
                    "the service is not offered in this region", slug="region-not-offered"
                )
            return service
    raise InvalidRequestError(f"the destination does not offer {identifier}", slug="service-not-offered")


def authorize(principal: Principal, destination_id: str, service: dict[str, Any]) -> None:
    if not principal.may_reach(destination_id, service):
        raise ForbiddenError("this client may not send to this destination", slug="destination-not-allowed")
