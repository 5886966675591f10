"""A destination's keys as the receiving stages use them: all decryption keys, the newest signer."""

from __future__ import annotations

from gateway.crypto.jwe import DecryptionKeys, decryption_keys
from gateway.crypto.keys import KeyStore
from gateway.errors import ConfigError
from gateway.events.sets import SetSigner

__all__ = ["destination_decryption_keys", "destination_signer"]


def destination_decryption_keys(keys: KeyStore, destination_id: str) -> DecryptionKeys:
    """Every encryption key of the destination, current and retired, by kid."""
    return decryption_keys(keys.keys(destination_id))


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
