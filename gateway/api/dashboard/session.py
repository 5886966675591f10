"""The dashboard's session: a signed cookie, no server-side state.

The cookie holds the operator's id (``None`` before login), a CSRF token for the forms, the
expiry, a fingerprint of the operator's secret hash (a changed secret ends its sessions) and the
notices of the last action (shown once after its redirect). It is signed with HMAC-SHA256 under a
key of the gateway's key directory; a cookie that does not verify, has expired or names an
operator no longer declared counts as none. It is ``HttpOnly``, ``SameSite=Strict``, limited to
``/admin`` and ``Secure`` when the gateway's public URL is https.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from starlette.responses import Response

__all__ = ["COOKIE", "Session", "SessionCodec"]

COOKIE = "xgw_admin"
PATH = "/admin"
#: How long a login lasts (a working day); a session before login (the login form) lasts an hour.
LOGIN_SECONDS = 8 * 3600
ANONYMOUS_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    """One browser's session; ``operator`` is ``None`` until it logs in."""

    csrf: str
    expires: int  #: Unix time
    operator: str | None = None
    fingerprint: str = ""  #: of the operator's secret hash at login
    notices: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def new(cls, operator: str | None = None, secret_hash: str = "", *, now: float | None = None) -> Session:
        """A fresh session (new CSRF token) for ``operator`` or for the login form."""
        lasts = LOGIN_SECONDS if operator else ANONYMOUS_SECONDS
        return cls(
            secrets.token_urlsafe(32),
            int((now or time.time()) + lasts),
            operator,
            fingerprint(secret_hash) if operator else "",
        )

    def csrf_matches(self, token: str | None) -> bool:
        """Whether a form's token is this session's (constant time)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())

    def noting(self, *notices: str) -> Session:
        return dataclasses.replace(self, notices=(*self.notices, *notices))

    def without_notices(self) -> Session:
        return dataclasses.replace(self, notices=())


def fingerprint(secret_hash: str) -> str:
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:32]


class SessionCodec:
    """Signs sessions into cookies and reads them back."""

    def __init__(self, key: bytes, *, secure: bool) -> None:
        self.key = key
        self.secure = secure

    def _sign(self, body: bytes) -> str:
        digest = hmac.new(self.key, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encode(self, session: Session) -> str:
        body = base64.urlsafe_b64encode(json.dumps(dataclasses.asdict(session)).encode()).rstrip(b"=")
        return f"{body.decode()}.{self._sign(body)}"

    def decode(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session of a cookie; ``None`` if it is missing, forged, malformed or expired."""
        if not cookie or len(cookie) > 4096 or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body.encode()).encode()):
            return None
        try:
            raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(
                str(raw["csrf"]),
                int(raw["expires"]),
                None if raw["operator"] is None else str(raw["operator"]),
                str(raw["fingerprint"]),
                tuple(str(n) for n in raw["notices"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return session if session.expires > (now or time.time()) else None

    def store(self, response: Response, session: Session) -> None:
        """Set the cookie of ``session`` on ``response``."""
        response.set_cookie(
            COOKIE,
            self.encode(session),
            max_age=max(0, session.expires - int(time.time())),
            path=PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=PATH, secure=self.secure, httponly=True, samesite="strict")
