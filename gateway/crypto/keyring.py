"""A destination's decryption keys as the receiving stages use them: current and retired, by kid."""

from __future__ import annotations

from gateway.crypto.jwe import DecryptionKeys, decryption_keys
from gateway.crypto.keys import KeyStore

__all__ = ["destination_decryption_keys"]


def destination_decryption_keys(keys: KeyStore, destination_id: str) -> DecryptionKeys:
    """Every encryption key of the destination, current and retired, by kid."""
    return decryption_keys(keys.keys(destination_id))
