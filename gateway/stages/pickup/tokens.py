"""Access tokens of subscriber clients: the gateway's HS256 JWTs, with their own audience, so a
subscriber token never opens the sender API and a sender token never the subscriber API."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from gateway.crypto.jws import JwsError, sign_hs256, verify_hs256
from gateway.errors import AuthenticationError

__all__ = ["AUDIENCE", "SCOPE", "SubscriberTokens"]

AUDIENCE = "xoev-gateway:subscriber-api"
#: FIT-Connect's subscriber scope (fetch and acknowledge submissions)
SCOPE = "https://schema.fitko.de/fit-connect/oauth/scopes/subscribe-destinations"
_SKEW = 60


@dataclass(frozen=True)
class SubscriberTokens:
    """Issues and checks subscriber tokens under the gateway's token secret."""

    secret: bytes
    issuer: str
    ttl: int

    def issue(self, client_id: str, destinations: list[str]) -> tuple[str, str]:
        """A token and its scope: FIT-Connect's subscriber scope and ``subscribe:destination:<id>``."""
        scope = " ".join([SCOPE, *(f"subscribe:destination:{d}" for d in sorted(destinations))])
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.ttl,
            "jti": str(uuid.uuid4()),
            "scope": scope,
        }
        return sign_hs256(self.secret, {"typ": "at+jwt"}, claims), scope

    def client_id(self, token: str) -> str:
        """The subscriber client a valid, unexpired subscriber token was issued to; raises
        ``AuthenticationError`` (slug ``invalid-token``)."""
        try:
            _header, claims = verify_hs256(token, self.secret)
        except JwsError as exc:
            raise AuthenticationError("invalid access token", slug="invalid-token") from exc
        exp, iat, now = claims.get("exp"), claims.get("iat"), time.time()
        if type(exp) is not int or type(iat) is not int or now >= exp + _SKEW or iat > now + _SKEW:
            raise AuthenticationError("access token expired or not valid yet", slug="invalid-token")
        if (
            claims.get("iss") != self.issuer
            or claims.get("aud") != AUDIENCE
            or not isinstance(claims.get("sub"), str)
        ):
            raise AuthenticationError("not a subscriber token of this gateway", slug="invalid-token")
        return str(claims["sub"])
