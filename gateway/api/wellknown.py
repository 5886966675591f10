"""Public, unauthenticated routes: the gateway's SET verification keys and a health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from gateway.api import openapi
from gateway.api.deps import Jwks, Sessions

router = APIRouter()


@router.get(
    "/.well-known/jwks.json",
    summary="Keys that verify the gateway's Security Event Tokens",
    tags=[openapi.KEYS],
    responses=openapi.problems(),
)
async def jwks(keys: Jwks) -> dict[str, Any]:
    return keys


@router.get(
    "/health",
    summary="Liveness and database reachability",
    tags=[openapi.ADMIN],
    responses=openapi.problems(),
)
async def health(sessions: Sessions) -> dict[str, str]:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
    return {"status": "ok"}
