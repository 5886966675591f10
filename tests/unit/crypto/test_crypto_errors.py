"""Every exception ``gateway.crypto`` defines hangs in the gateway's error tree, on its intended branch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import gateway.crypto
from gateway.crypto.b64 import b64url_encode
from gateway.crypto.compact import JweFormatError, scan
from gateway.crypto.jwe import DecryptionError, decrypt_compact
from gateway.crypto.jws import JwsError, sign_hs256, verify_hs256
from gateway.crypto.keywrap import ContentKeyError, UnknownWrapKeyError
from gateway.errors import ClientError, ConfigError, GatewayError, PermanentError, TransientError

#: A malformed or forged input from a sender will never succeed, however often it is retried.
INTENDED: dict[type[BaseException], type[GatewayError]] = {
    JweFormatError: PermanentError,
    DecryptionError: PermanentError,
    JwsError: PermanentError,
    ContentKeyError: PermanentError,  # a stored wrapped key altered or moved: park, never retry
    UnknownWrapKeyError: PermanentError,
}
BRANCHES = (ClientError, ConfigError, TransientError, PermanentError)


def _defined_in_crypto() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.iter_modules(gateway.crypto.__path__, "gateway.crypto."):
        module = importlib.import_module(info.name)
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.add(value)
    return found


def test_every_crypto_exception_has_an_intended_branch() -> None:
    assert _defined_in_crypto() == set(INTENDED)


@pytest.mark.parametrize("error", list(INTENDED), ids=lambda e: e.__name__)
def test_crypto_exception_is_a_gateway_error_of_its_branch(error: type[BaseException]) -> None:
    branch = INTENDED[error]
    assert issubclass(error, GatewayError) and issubclass(error, branch)
    assert [b for b in BRANCHES if issubclass(error, b)] == [branch]


def test_jwe_format_error_keeps_its_reason_which_is_also_the_slug() -> None:
    with pytest.raises(JweFormatError) as malformed:
        scan("not a jwe", ["kid"])
    assert malformed.value.reason == malformed.value.slug == "jwe-malformed"
    assert malformed.value.detail == str(malformed.value)

    header = b64url_encode(b'{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"other"}')
    with pytest.raises(JweFormatError) as unknown:
        scan(f"{header}.a.AAAAAAAAAAAAAAAA.c.AAAAAAAAAAAAAAAAAAAAAA", ["kid"])
    assert unknown.value.reason == unknown.value.slug == "jwe-unknown-key"


def test_a_duplicate_header_member_is_still_a_header_error() -> None:
    header = b64url_encode(b'{"alg":"RSA-OAEP-256","alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k"}')
    with pytest.raises(JweFormatError) as caught:
        scan(f"{header}.a.AAAAAAAAAAAAAAAA.c.AAAAAAAAAAAAAAAAAAAAAA", ["k"])
    assert caught.value.reason == "jwe-header-invalid"
    assert "duplicate" in caught.value.detail


def test_decryption_error_keeps_its_slug_and_single_message() -> None:
    with pytest.raises(DecryptionError) as caught:
        decrypt_compact("not a jwe", {}, max_inflated=1024)
    assert caught.value.slug == "encryption-issue" and caught.value.detail == DecryptionError.MESSAGE


def test_jws_error_for_a_forged_or_malformed_token() -> None:
    token = sign_hs256(b"right", {}, {"sub": "x"})
    with pytest.raises(JwsError) as forged:
        verify_hs256(token, b"wrong")
    assert forged.value.slug == "jws-invalid" and forged.value.detail == "signature does not verify"
    duplicate = b64url_encode(b'{"alg":"HS256","alg":"HS256"}')
    with pytest.raises(JwsError, match="duplicate member"):
        verify_hs256(f"{duplicate}.{token.split('.', 1)[1]}", b"right")
