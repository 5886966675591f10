"""OAuth2 client credentials: ``POST /token`` issues a gateway-signed JWT; ``require_client`` checks it."""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2

from gateway.access import Principal
from gateway.api import openapi
from gateway.api.body import read_capped, require_media_type
from gateway.api.deps import LimitsOf, Sessions, Tokens
from gateway.api.subscriber_services import subscriber_token
from gateway.api.tokens import AUDIENCE, TokenIssuer
from gateway.crypto.secrets import verify_secret
from gateway.errors import AuthenticationError, InvalidRequestError
from gateway.pools import Pool, run_in
from gateway.store.models import Client

__all__ = ["AUDIENCE", "BEARER", "CurrentClient", "TokenIssuer", "require_client", "router"]
router = APIRouter(tags=[openapi.AUTH])
#: The bearer token of the Submission API, as OpenAPI declares it; a missing header is left to
#: ``require_client`` (a problem+json 401, not FastAPI's).
BEARER = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/token")),
    scheme_name="bearer",
    description="OAuth2 client credentials: `POST /token`, then `Authorization: Bearer <access_token>`.",
    auto_error=False,
)
_TOKEN_FORM = openapi.form_body(
    {
        "type": "object",
        "required": ["grant_type", "client_id", "client_secret"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string", "format": "password"},
        },
    },
    {"grant_type": "client_credentials", "client_id": "portal", "client_secret": "<secret>"},
    "The client's credentials in the body, or instead as HTTP Basic credentials (RFC 6749, 2.3.1).",
)
_TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An access token (HS256 JWT) scoped to the client's regions and destinations",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in", "scope"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"type": "string", "enum": ["Bearer"]},
                        "expires_in": {"type": "integer"},
                        "scope": {"type": "string"},
                    },
                }
            }
        },
    },
    400: {
        "description": "OAuth2 error (RFC 6749): a grant type other than `client_credentials`",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string", "enum": ["unsupported_grant_type"]}},
                }
            }
        },
    },
    **openapi.problems("invalid-client", *openapi.BODY),
}


@router.post(
    "/token",
    summary="OAuth2 client credentials grant (form-encoded)",
    responses=_TOKEN_RESPONSES,
    openapi_extra=_TOKEN_FORM,
)
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
    client_id, secret = _credentials(request, fields)
    async with sessions() as session:
        client = await session.get(Client, client_id) if client_id else None
    if client is None and (issued := await subscriber_token(request, client_id, secret)) is not None:
        return issued
    stored = client.secret_hash if client else None
    if not await run_in(Pool.AUTH, verify_secret, secret, stored) or client is None:
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


def _credentials(request: Request, fields: dict[str, str]) -> tuple[str, str]:
    """The client's id and secret: from the form, else from HTTP Basic (each part form-encoded)."""
    if "client_id" in fields:
        return fields["client_id"], fields.get("client_secret", "")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError as exc:  # also binascii.Error and UnicodeDecodeError
        raise AuthenticationError("malformed Basic credentials", slug="invalid-client") from exc
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


async def require_client(
    authorization: Annotated[str | None, Depends(BEARER)], sessions: Sessions, tokens: Tokens
) -> Principal:
    """FastAPI dependency: the sender behind the bearer token (checked before any body is read)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthenticationError("bearer token required", slug="invalid-token")
    client_id = tokens.client_id(credentials.strip())
    async with sessions() as session:
        client = await session.get(Client, client_id)
    if client is None:
        raise AuthenticationError("client no longer exists", slug="invalid-token")
    return Principal(client.id, frozenset(client.destinations), frozenset(client.regions))


CurrentClient = Annotated[Principal, Depends(require_client)]
