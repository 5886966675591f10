"""Access tokens: HS256 JWTs under a secret only the gateway knows, scoped to a client's reach."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from gateway.crypto.jws import JwsError, sign_hs256, verify_hs256
from gateway.errors import AuthenticationError
from gateway.store.models import Client

AUDIENCE = "xoev-gateway:submission-api"
#: Leeway for clocks of gateway processes that verify each other's tokens (RFC 7519 §4.1.4/5).
CLOCK_SKEW_SECONDS = 60


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
        _check_times(claims, time.time())
        if (
            claims.get("iss") != self.issuer
            or claims.get("aud") != AUDIENCE
            or not isinstance(claims.get("sub"), str)
        ):
            raise AuthenticationError("access token not issued for this API", slug="invalid-token")
        return str(claims["sub"])


def _check_times(claims: dict[str, object], now: float) -> None:
    """``exp`` passed, ``nbf`` not reached, or ``iat`` in the future (each with the clock leeway)."""
    times = {name: claims.get(name) for name in ("exp", "iat", "nbf")}
    if any(value is not None and type(value) is not int for value in times.values()):
        raise AuthenticationError("access token times are not NumericDates", slug="invalid-token")
    exp, iat, nbf = times["exp"], times["iat"], times["nbf"]
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise AuthenticationError("access token without exp or iat", slug="invalid-token")
    if now >= exp + CLOCK_SKEW_SECONDS:
        raise AuthenticationError("access token expired", slug="invalid-token")
    if iat > now + CLOCK_SKEW_SECONDS or (isinstance(nbf, int) and nbf > now + CLOCK_SKEW_SECONDS):
        raise AuthenticationError("access token not valid yet", slug="invalid-token")
