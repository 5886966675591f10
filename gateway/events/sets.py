"""Building and signing Security Event Tokens.

Header ``{alg: PS512, kid, typ: secevent+jwt}``; claims ``$schema``, ``jti``, ``iss``, ``iat``,
``sub: submission:<id>``, ``txn: case:<id>`` and ``events`` with exactly one event URI. The
gateway signs its own events (create, submit) with its key, published at ``/.well-known/jwks.json``,
with ``iss`` = its base URL; the receiving side's events (accept, reject) are signed with the
destination's signing key with ``iss`` = the destination id.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.crypto.jws import sign_ps512
from gateway.crypto.keys import KeyStore, PrivateKey
from gateway.errors import ConfigError
from gateway.pools import Pool, run_in

SET_SCHEMA = "https://schema.fitko.de/fit-connect/set-payload/1.2.2/set-payload.schema.json"
EVENT_PREFIX = "https://schema.fitko.de/fit-connect/events/"


def event_uri(name: str) -> str:
    return EVENT_PREFIX + name


@dataclass(frozen=True)
class SetSigner:
    """Who signs: the issuer string, its key id and private key."""

    issuer: str
    kid: str
    key: PrivateKey

    def claims(self, name: str, submission_id: str, case_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "$schema": SET_SCHEMA,
            "jti": str(uuid.uuid4()),
            "iss": self.issuer,
            "iat": int(time.time()),
            "sub": f"submission:{submission_id}",
            "txn": f"case:{case_id}",
            "events": {event_uri(name): payload},
        }

    async def sign(self, name: str, submission_id: str, case_id: str, payload: dict[str, Any]) -> str:
        """A compact SET; the RSA-4096 signature runs in a worker thread."""
        claims = self.claims(name, submission_id, case_id, payload)
        header = {"kid": self.kid, "typ": "secevent+jwt"}
        return await run_in(Pool.SIGNING, sign_ps512, self.key, header, claims)


def gateway_signer(keys: KeyStore, issuer: str) -> tuple[SetSigner, dict[str, Any]]:
    """The gateway's own SET signing key (created on first start) and the JWKS that publishes it."""
    pairs = keys.ensure("gateway", "signing")
    current = pairs[-1]
    return SetSigner(issuer, current.kid, current.private_key), {"keys": [p.public_jwk for p in pairs]}


def destination_signer(keys: KeyStore, destination_id: str) -> SetSigner:
    """Signs the destination's own SETs (reject, accept): newest PS512 key, ``iss`` = destination id.

    Raises ``ConfigError`` when the destination has no signing key.
    """
    pairs = [pair for pair in keys.keys(destination_id) if pair.purpose == "signing"]
    if not pairs:
        raise ConfigError(
            f"no signing key: run `xgw keys generate {destination_id}`", path=f"destination {destination_id}"
        )
    newest = pairs[-1]
    return SetSigner(issuer=destination_id, kid=newest.kid, key=newest.private_key)
