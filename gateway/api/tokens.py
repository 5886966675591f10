"""Access tokens: HS256 JWTs under a secret only the gateway knows, scoped to a client's reach."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from gateway.crypto.jws import JwsError, sign_hs256, verify_hs256
from gateway.errors import AuthenticationError
from gateway.store.models import Client

AUDIENCE = "xoev-gateway:submission-api"


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
