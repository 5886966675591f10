"""The plaintext budget of one submission: metadata capped on its own, metadata and data sharing
one in-memory budget, attachments each up to the attachment limit, a dry run capped in total."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.settings import Limits
from gateway.content.parts import PlaintextLimits, PlaintextMeter, Sealed, SealedParts, open_parts
from gateway.crypto.jwe import DecryptionKeys, decryption_keys, encrypt_compact
from gateway.crypto.keys import KeyStore
from gateway.memory import TRIM_AFTER_BYTES, release_freed_memory
from tests.conftest import ACTIVE

KIB = 1024


@pytest.fixture(scope="module")
def keys_and_public(key_template: Path) -> tuple[DecryptionKeys, dict[str, object]]:
    pairs = KeyStore(key_template).keys(ACTIVE)
    public = next(p.public_jwk for p in pairs if p.purpose == "encryption")
    return decryption_keys(pairs), public


def _sealed(public: dict[str, object], size: int, *, compress: bool = True) -> Sealed:
    return Sealed.of_token(
        encrypt_compact(public, b"x" * size, "application/octet-stream", compress=compress)
    )


def _open(
    keys_and_public: tuple[DecryptionKeys, dict[str, object]],
    limits: PlaintextLimits,
    metadata: int,
    data: int | None = None,
    attachments: tuple[int, ...] = (),
) -> tuple[list[str], int]:
    keys, public = keys_and_public
    parts = SealedParts(
        metadata=_sealed(public, metadata),
        data=_sealed(public, data) if data is not None else None,
        attachments={f"a{i}": _sealed(public, size) for i, size in enumerate(attachments)},
    )
    meter = PlaintextMeter(limits)
    _opened, problems = open_parts(parts, keys, meter)
    return [p.instance for p in problems], meter.total


LIMITS = PlaintextLimits(metadata=4 * KIB, in_memory=64 * KIB, attachment=32 * KIB)


def test_within_every_limit_opens(keys_and_public: tuple[DecryptionKeys, dict[str, object]]) -> None:
    assert _open(keys_and_public, LIMITS, 4 * KIB, 60 * KIB, (32 * KIB,)) == ([], 96 * KIB)


def test_metadata_has_its_own_cap(keys_and_public: tuple[DecryptionKeys, dict[str, object]]) -> None:
    assert _open(keys_and_public, LIMITS, 4 * KIB + 1, 1 * KIB)[0] == ["metadata"]


def test_metadata_and_data_share_one_budget(
    keys_and_public: tuple[DecryptionKeys, dict[str, object]],
) -> None:
    assert _open(keys_and_public, LIMITS, 4 * KIB, 60 * KIB + 1)[0] == ["data"]
    assert _open(keys_and_public, LIMITS, 1 * KIB, 63 * KIB)[0] == []


def test_the_budget_holds_for_uncompressed_parts_too(
    keys_and_public: tuple[DecryptionKeys, dict[str, object]],
) -> None:
    keys, public = keys_and_public
    parts = SealedParts(metadata=_sealed(public, 5 * KIB, compress=False))
    assert open_parts(parts, keys, PlaintextMeter(LIMITS))[1][0].instance == "metadata"


def test_each_attachment_up_to_the_attachment_limit(
    keys_and_public: tuple[DecryptionKeys, dict[str, object]],
) -> None:
    assert _open(keys_and_public, LIMITS, 1 * KIB, None, (32 * KIB, 32 * KIB + 1))[0] == ["attachment:a1"]


def test_a_dry_run_caps_all_parts_together(keys_and_public: tuple[DecryptionKeys, dict[str, object]]) -> None:
    capped = PlaintextLimits(metadata=4 * KIB, in_memory=64 * KIB, attachment=32 * KIB, total=40 * KIB)
    assert _open(keys_and_public, capped, 1 * KIB, 1 * KIB, (30 * KIB, 30 * KIB))[0] == ["attachment:a1"]
    assert _open(keys_and_public, capped, 1 * KIB, 1 * KIB, (30 * KIB, 8 * KIB))[0] == []


def test_limits_come_from_the_settings() -> None:
    limits = Limits(max_inflated_bytes=10 * KIB, max_metadata_bytes=20 * KIB, max_attachment_bytes=30 * KIB)
    assert PlaintextLimits.of(limits) == PlaintextLimits(
        metadata=10 * KIB, in_memory=10 * KIB, attachment=30 * KIB
    )
    assert PlaintextLimits.of(limits, dry_run=True).total == limits.max_dry_run_plaintext_bytes


def test_the_heap_is_trimmed_only_after_large_work() -> None:
    assert release_freed_memory(TRIM_AFTER_BYTES - 1) is False
    assert release_freed_memory(TRIM_AFTER_BYTES) is True  # glibc here
