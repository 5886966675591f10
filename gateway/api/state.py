"""Access to the composed gateway from a request (set by the app's lifespan)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import Request

if TYPE_CHECKING:
    from gateway.app import Gateway


def gateway_of(request: Request) -> Gateway:
    return cast("Gateway", request.app.state.gateway)
