"""Settings precedence, `xgw config check` key paths, key files and client secrets."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from jwcrypto import jwk

from gateway.cli import main
from gateway.config.settings import Settings
from gateway.crypto.b64 import b64url_encode
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret, verify_secret

DEST = "0c438057-ec3e-4ce0-b154-1683b5d3c2e8"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_env_overrides_file_and_file_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "c.toml",
        "port = 9001\nhost = '0.0.0.0'\n[limits]\nmax_attachments = 7\nmax_json_body_bytes = 99\n",
    )
    monkeypatch.setenv("XGW_PORT", "9002")
    monkeypatch.setenv("XGW_LIMITS__MAX_ATTACHMENTS", "8")
    settings = Settings.load(config)
    assert (settings.port, settings.host) == (9002, "0.0.0.0")
    assert (settings.limits.max_attachments, settings.limits.max_json_body_bytes) == (8, 99)
    assert settings.limits.max_attachment_bytes == 500 * 1024 * 1024


def test_config_check_names_every_problem_with_its_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        f"""
key_dir = "{tmp_path / "keys"}"
[[tenants]]
id = "musterstadt"
[[tenants.destinations]]
id = "{DEST}"
metadata_versions = ["1.0.0", "7.0.0"]
[[tenants.destinations.services]]
identifier = "urn:de:fim:leika:leistung:99066006001000"
submission_schemas = [
    {{schema_uri = "urn:xoev-de:bmk:standard:xbau_9.9", mime_type = "application/xml"}},
]
[[clients]]
id = "portal"
secret_hash = "plain-text"
destinations = ["11111111-1111-1111-1111-111111111111"]
""",
    )
    assert main(["--config", str(config), "config", "check"]) == 1
    err = capsys.readouterr().err
    for expected in (
        f"tenants[0].destinations[0]: no encryption key: run `xgw --config {config} keys generate {DEST}`",
        "tenants[0].destinations[0].services[0].submission_schemas[0].schema_uri: "
        "the schema catalogue has no",
        "tenants[0].destinations[0].metadata_versions[1]: unknown metadata version 7.0.0",
        "clients[0].secret_hash: not a hash",
        "clients[0].destinations[0]: unknown destination 11111111-1111-1111-1111-111111111111",
    ):
        assert expected in err


def test_config_check_reports_schema_errors_with_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        "[[tenants]]\nid = 'Bad Id'\n[[tenants.destinations]]\nid = 'x'\nstatus = 'open'\nservices = []\n",
    )
    assert main(["--config", str(config), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "tenants[0].id:" in err and "tenants[0].destinations[0].id:" in err
    assert "tenants[0].destinations[0].status:" in err and "tenants[0].destinations[0].services:" in err


def test_keys_generate_writes_private_files_0600_and_fit_connect_jwks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", f'key_dir = "{tmp_path / "keys"}"\n')
    assert main(["--config", str(config), "keys", "generate", DEST]) == 0
    files = list((tmp_path / "keys" / DEST).glob("*.json"))
    assert len(files) == 2
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE((tmp_path / "keys" / DEST).stat().st_mode) == 0o700
    pairs = {p.purpose: p for p in KeyStore(tmp_path / "keys").keys(DEST)}
    enc, sig = pairs["encryption"].public_jwk, pairs["signing"].public_jwk
    assert (enc["alg"], enc["key_ops"], sig["alg"], sig["key_ops"]) == (
        "RSA-OAEP-256",
        ["wrapKey"],
        "PS512",
        ["verify"],
    )
    for public in (enc, sig):
        assert public["e"] == "AQAB" and len(public["n"]) >= 683 and 8 <= len(public["kid"]) <= 64
        assert public["kid"] == jwk.JWK(kty="RSA", n=public["n"], e=public["e"]).thumbprint()
        cert = x509.load_der_x509_certificate(base64.b64decode(public["x5c"][0]))
        n = cert.public_key().public_numbers().n  # type: ignore[union-attr]
        assert b64url_encode(n.to_bytes(512, "big")) == public["n"]
        assert "d" not in public
    private = json.loads(files[0].read_text())
    assert set(private["key_ops"]) <= {"unwrapKey", "sign"} and "d" in private
    assert main(["--config", str(config), "keys", "generate", "../escape"]) == 2


def test_client_secrets_are_stored_as_scrypt_hashes() -> None:
    stored = hash_secret("correct horse")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert verify_secret("correct horse", stored)
    assert not verify_secret("wrong", stored)
    assert not verify_secret("correct horse", None)


def test_clients_secret_prints_a_usable_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "secret"]) == 0
    out = capsys.readouterr().out
    secret = out.split("stored): ")[1].split()[0]
    stored = out.split('secret_hash = "')[1].split('"')[0]
    assert verify_secret(secret, stored)


def test_config_check_rejects_missing_adapters_and_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore(tmp_path / "keys")
    store.generate(DEST, "encryption")
    service = (
        'identifier = "urn:de:fim:leika:leistung:99066006001000"\n'
        'submission_schemas = [{schema_uri = "urn:xoev-de:bmk:standard:xbau_2.6", '
        'mime_type = "application/xml"}]'
    )
    config = write(
        tmp_path / "c.toml",
        f"""
key_dir = "{tmp_path / "keys"}"
[[tenants]]
id = "musterstadt"
[[tenants.destinations]]
id = "{DEST}"
[[tenants.destinations.services]]
{service}
adapter = {{ name = "filesystm" }}
[[tenants.destinations.services]]
{service.replace("99066006001000", "99066006002000")}
adapter = {{ name = "http", options = {{ url = "not a url" }} }}
""",
    )
    assert main(["--config", str(config), "config", "check"]) == 1
    err = capsys.readouterr().err
    assert "tenants[0].destinations[0].services[0].adapter:" in err and "filesystem" in err  # did you mean
    assert "tenants[0].destinations[0].services[1].adapter:" in err and "url" in err


def test_adapters_list_shows_built_ins_with_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "list", "--json"]) == 0
    listed = {a["name"]: a for a in json.loads(capsys.readouterr().out)}
    assert {"filesystem", "http", "demo-ok", "demo-reject", "demo-crash"} <= set(listed)
    assert "directory" in json.dumps(listed["filesystem"])
