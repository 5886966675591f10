"""OAuth2 client credentials: ``POST /token`` issues a gateway-signed JWT; ``require_client`` checks it."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.access import Principal
from gateway.api.body import read_capped, require_media_type
from gateway.api.deps import LimitsOf, Sessions, Tokens
from gateway.api.tokens import AUDIENCE, TokenIssuer
from gateway.crypto.secrets import verify_secret
from gateway.errors import AuthenticationError, InvalidRequestError
from gateway.store.models import Client

__all__ = ["AUDIENCE", "CurrentClient", "TokenIssuer", "require_client", "router"]
router = APIRouter(tags=["OAuth2"])


@router.post("/token", summary="OAuth2 client credentials grant (form-encoded)")
async def token(request: Request, sessions: Sessions, limits: LimitsOf, tokens: Tokens) -> JSONResponse:
    require_media_type(request, "application/x-www-form-urlencoded")
    raw = await read_capped(request, limits.max_form_body_bytes)
    try:
        form = parse_qs(raw.decode("ascii"), strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("malformed form body", slug="request-body-invalid") from exc
    fields = {k: v[0] for k, v in form.items() if len(v) == 1}
    if fields.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    async with sessions() as session:
        client = await session.get(Client, client_id) if client_id else None
    stored = client.secret_hash if client else None
    if not await asyncio.to_thread(verify_secret, secret, stored) or client is None:
        raise AuthenticationError("unknown client or wrong secret", slug="invalid-client")
    access_token, scope = tokens.issue(client)
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": tokens.ttl,
            "scope": scope,
        },
        headers={"Cache-Control": "no-store"},
    )


async def require_client(request: Request, sessions: Sessions, tokens: Tokens) -> Principal:
    """FastAPI dependency: the sender behind the bearer token (checked before any body is read)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthenticationError("bearer token required", slug="invalid-token")
    client_id = tokens.client_id(credentials.strip())
    async with sessions() as session:
        client = await session.get(Client, client_id)
    if client is None:
        raise AuthenticationError("client no longer exists", slug="invalid-token")
    return Principal(client.id, frozenset(client.destinations), frozenset(client.regions))


CurrentClient = Annotated[Principal, Depends(require_client)]
