"""OAuth2 client credentials: ``POST /token`` issues a gateway-signed JWT; ``require_client`` checks it."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.api.body import read_capped, require_media_type
from gateway.api.state import gateway_of
from gateway.crypto.jws import JwsError, sign_hs256, verify_hs256
from gateway.crypto.secrets import verify_secret
from gateway.errors import AuthenticationError, InvalidRequestError
from gateway.intake.access import Principal
from gateway.store.models import Client

AUDIENCE = "xoev-gateway:submission-api"
router = APIRouter(tags=["OAuth2"])


@dataclass(frozen=True)
class TokenIssuer:
    """Issues and checks access tokens (HS256 JWTs under a secret only the gateway knows)."""

    secret: bytes
    issuer: str
    ttl: int

    def issue(self, client: Client) -> tuple[str, str]:
        scope = " ".join(
            [f"send:region:{r}" for r in client.regions]
            + [f"send:destination:{d}" for d in client.destinations]
        )
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": client.id,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.ttl,
            "jti": str(uuid.uuid4()),
            "scope": scope,
        }
        return sign_hs256(self.secret, {"typ": "at+jwt"}, claims), scope

    def client_id(self, token: str) -> str:
        """The client a valid, unexpired token was issued to; raises ``AuthenticationError``."""
        try:
            _header, claims = verify_hs256(token, self.secret)
        except JwsError as exc:
            raise AuthenticationError("invalid access token", slug="invalid-token") from exc
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= time.time():
            raise AuthenticationError("access token expired", slug="invalid-token")
        if (
            claims.get("iss") != self.issuer
            or claims.get("aud") != AUDIENCE
            or not isinstance(claims.get("sub"), str)
        ):
            raise AuthenticationError("access token not issued for this API", slug="invalid-token")
        return str(claims["sub"])


@router.post("/token", summary="OAuth2 client credentials grant (form-encoded)")
async def token(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    require_media_type(request, "application/x-www-form-urlencoded")
    raw = await read_capped(request, gateway.settings.limits.max_form_body_bytes)
    try:
        form = parse_qs(raw.decode("ascii"), strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("malformed form body", slug="request-body-invalid") from exc
    fields = {k: v[0] for k, v in form.items() if len(v) == 1}
    if fields.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    async with gateway.sessions() as session:
        client = await session.get(Client, client_id) if client_id else None
    stored = client.secret_hash if client else None
    if not await asyncio.to_thread(verify_secret, secret, stored) or client is None:
        raise AuthenticationError("unknown client or wrong secret", slug="invalid-client")
    access_token, scope = gateway.tokens.issue(client)
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": gateway.tokens.ttl,
            "scope": scope,
        },
        headers={"Cache-Control": "no-store"},
    )


async def require_client(request: Request) -> Principal:
    """FastAPI dependency: the sender behind the bearer token (checked before any body is read)."""
    gateway = gateway_of(request)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthenticationError("bearer token required", slug="invalid-token")
    client_id = gateway.tokens.client_id(credentials.strip())
    async with gateway.sessions() as session:
        client = await session.get(Client, client_id)
    if client is None:
        raise AuthenticationError("client no longer exists", slug="invalid-token")
    return Principal(client.id, frozenset(client.destinations), frozenset(client.regions))


CurrentClient = Annotated[Principal, Depends(require_client)]
