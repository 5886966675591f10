"""Routing answers: which active destination serves a LeiKa service in an area, and its signed
addressing information.

Areas are region keys. A service's configured regions are ARS prefixes (``DE`` = everywhere); it
serves a queried area when the area lies inside one of them: an ARS or area id (the gateway's
area ids are ARS keys, see ``GET /v1/areas``) that starts with the region; an AGS (Land, RB, Kreis,
Gemeinde: no Gemeindeverband) whose ARS form does. A region of 9 digits (Gemeindeverband) cannot
be told from an 8-digit AGS and matches only AGS prefixes up to the Kreis.

``destinationSignature`` is a PS512 JWS (header ``typ: jwt``) by the gateway's signing key (in its
JWKS), with the claims FIT-Connect's addressing information carries: ``submissionHost``, ``iss``
(the gateway's base URL), ``services`` (``gebietIDs`` as ARS URNs, ``leistungIDs`` as LeiKa URNs),
``destinationId``, ``iat``, ``jti``. ``destinationParametersSignature`` is a detached PS512 JWS
over ``destinationParameters`` serialised as compact JSON with sorted keys.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway.crypto.jws import sign_ps512
from gateway.crypto.keys import PrivateKey
from gateway.store.models import Destination, DestinationKey

__all__ = ["Addressing", "Area", "canonical_json", "public_keys", "serves", "service_urn"]

LEIKA_URN = "urn:de:fim:leika:leistung:"
RS_URN = "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:"
_SIGNATURE_TTL = 3600.0
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Area:
    """A queried area: its kind (``ars``, ``ags`` or ``areaId``) and key."""

    kind: str
    key: str


def service_urn(leika_key: str) -> str:
    return LEIKA_URN + leika_key


def _covers(region: str, area: Area) -> bool:
    if region == "DE":
        return True
    if area.kind != "ags" or len(area.key) <= 5:
        return area.key.startswith(region)
    # an 8-digit AGS is Land+RB+Kreis (5) + Gemeinde (3); the ARS puts the Verband (4) between
    if len(region) <= 5:
        return area.key.startswith(region)
    return len(region) == 12 and region[:5] == area.key[:5] and region[9:] == area.key[5:]


def serves(destination: Destination, leika_key: str, area: Area) -> dict[str, Any] | None:
    """The destination's service (row form) for ``leika_key`` that covers ``area``, if any."""
    for service in destination.services:
        if service.get("identifier") == service_urn(leika_key) and any(
            _covers(str(r), area) for r in service.get("regions", [])
        ):
            return dict(service)
    return None


def public_keys(destination: Destination, keys: Sequence[DestinationKey]) -> list[dict[str, Any]]:
    """Public JWKs: the current encryption key first (clients take ``keys[0]``), then newest first."""
    ordered = sorted(keys, key=lambda k: k.created, reverse=True)
    ordered.sort(key=lambda k: k.kid != destination.encryption_kid)
    return [k.public_jwk for k in ordered]


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys: the bytes a detached signature covers."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


@dataclass
class Addressing:
    """Signs addressing information with the gateway's key; signatures are reused for an hour."""

    issuer: str
    kid: str
    key: PrivateKey
    _cache: dict[bytes, tuple[float, str]] = field(default_factory=dict, repr=False)

    @property
    def submission_host(self) -> str:
        return urlsplit(self.issuer).netloc

    def _cached(self, content: bytes, sign: Callable[[], str]) -> str:
        now = time.monotonic()
        hit = self._cache.get(content)
        if hit is not None and hit[0] > now:
            return hit[1]
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        token = sign()
        self._cache[content] = (now + _SIGNATURE_TTL, token)
        return token

    def destination_signature(self, destination: Destination) -> str:
        """The signed addressing information of every service the destination offers."""
        services = [
            {
                "gebietIDs": [RS_URN + str(r) for r in s.get("regions", [])],
                "leistungIDs": [str(s["identifier"])],
            }
            for s in destination.services
        ]
        claims = {
            "submissionHost": self.submission_host,
            "iss": self.issuer,
            "services": services,
            "destinationId": destination.id,
        }

        def sign() -> str:
            stamped = {**claims, "iat": int(time.time()), "jti": str(uuid.uuid4())}
            return sign_ps512(self.key, {"kid": self.kid, "typ": "jwt"}, stamped)

        return self._cached(b"addressing:" + canonical_json(claims), sign)

    def parameters_signature(self, parameters: dict[str, Any]) -> str:
        """A detached JWS (``header..signature``) over :func:`canonical_json` of the parameters."""
        content = canonical_json(parameters)

        def sign() -> str:
            # json.loads keeps the sorted order, and sign_ps512 encodes compactly: the payload
            # segment is exactly ``content``
            token = sign_ps512(self.key, {"kid": self.kid, "typ": "jwt"}, json.loads(content))
            protected, _, signature = token.split(".")
            return f"{protected}..{signature}"

        return self._cached(b"parameters:" + content, sign)
