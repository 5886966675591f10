"""A destination's ``fit-connect-subscriber`` binding in ``xgw config check``: the Fachverfahren's
public keys are judged as FIT-Connect judges destination keys, each problem with its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.config.check import check_settings
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore, generate_key_pair
from gateway.crypto.secrets import hash_secret
from tests.conftest import ACTIVE, LEIKA, XBAU

WHERE = "tenants[0].destinations[0].subscriber"


def _settings(encryption_key: dict[str, Any], signing_key: dict[str, Any]) -> Settings:
    service = {
        "identifier": LEIKA,
        "regions": ["064350014014"],
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
    }
    subscriber = {
        "client_id": "fachverfahren",
        "secret_hash": hash_secret("s3cr3t-of-the-fachverfahren-0123456789"),
        "encryption_key": encryption_key,
        "signing_key": signing_key,
    }
    destination = {"id": ACTIVE, "services": [service], "subscriber": subscriber}
    return Settings.model_validate({"tenants": [{"id": "t", "destinations": [destination]}]})


def test_the_fachverfahrens_keys_are_checked_with_their_key_paths(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path)
    keys.generate(ACTIVE, "encryption")
    enc, sig = generate_key_pair("encryption", "fv").public_jwk, generate_key_pair("signing", "fv").public_jwk
    assert check_settings(_settings(enc, sig), keys) == []

    swapped = [str(p) for p in check_settings(_settings(sig, enc), keys)]
    assert f"{WHERE}.encryption_key: not a usable encryption key: alg must be RSA-OAEP-256" in swapped
    assert f"{WHERE}.signing_key: not a usable signing key: alg must be PS512" in swapped

    private = {**enc, "d": "AQAB"}
    assert [str(p) for p in check_settings(_settings(private, sig), keys)] == [
        f"{WHERE}.encryption_key: not a usable encryption key: holds private key material: "
        "give the public key only"
    ]
