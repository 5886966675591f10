"""What the subscriber API uses, and ``POST /token`` for subscriber clients (kept apart from the
routes so that :mod:`gateway.api.auth` can ask it without an import cycle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from fastapi import Request
from fastapi.responses import JSONResponse

from gateway.crypto.secrets import verify_secret
from gateway.errors import AuthenticationError
from gateway.pools import Pool, run_in
from gateway.routing.subscribers import Subscribers
from gateway.stages.pickup.answers import PickupService
from gateway.stages.pickup.tokens import SubscriberTokens

__all__ = ["SubscriberServices", "services_of", "subscriber_token"]


@dataclass(frozen=True)
class SubscriberServices:
    """What the subscriber routes use; ``app.state.subscriber``."""

    subscribers: Subscribers
    tokens: SubscriberTokens
    pickups: PickupService


def services_of(request: Request) -> SubscriberServices | None:
    return cast(SubscriberServices | None, getattr(request.app.state, "subscriber", None))


async def subscriber_token(request: Request, client_id: str, secret: str) -> JSONResponse | None:
    """``POST /token`` for a subscriber client (``None``: not one); raises ``AuthenticationError``
    for a wrong secret."""
    services = services_of(request)
    bindings = services.subscribers.of_client(client_id) if services and client_id else []
    if services is None or not bindings:
        return None
    if not await run_in(Pool.AUTH, verify_secret, secret, bindings[0].secret_hash):
        raise AuthenticationError("unknown client or wrong secret", slug="invalid-client")
    token, scope = services.tokens.issue(client_id, [b.destination_id for b in bindings])
    body = {"access_token": token, "token_type": "Bearer", "expires_in": services.tokens.ttl, "scope": scope}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
