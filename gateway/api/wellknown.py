"""Public, unauthenticated routes: the gateway's SET verification keys and a health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from gateway.api.state import gateway_of

router = APIRouter(tags=["Public"])


@router.get("/.well-known/jwks.json", summary="Keys that verify the gateway's Security Event Tokens")
async def jwks(request: Request) -> dict[str, Any]:
    return gateway_of(request).jwks


@router.get("/health", summary="Liveness and database reachability")
async def health(request: Request) -> dict[str, str]:
    async with gateway_of(request).sessions() as session:
        await session.execute(text("SELECT 1"))
    return {"status": "ok"}
