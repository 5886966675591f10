"""Rejection problem types: FITKO's namespace only for FITKO's slugs, the gateway's own for the rest."""

from __future__ import annotations

import pytest

from gateway.content.problems import FITKO_SLUGS, OWN_SLUGS, TITLES, Problem, slug_of

FITKO = "https://schema.fitko.de/fit-connect/events/problems/"
OWN = "urn:xoev-gateway:problem:"


def test_every_slug_is_in_exactly_one_namespace() -> None:
    assert set(TITLES) == FITKO_SLUGS | OWN_SLUGS
    assert not FITKO_SLUGS & OWN_SLUGS


@pytest.mark.parametrize(
    "slug",
    [
        "incorrect-authentication-tag",
        "encryption-issue",
        "syntax-violation",
        "schema-violation",
        "unsupported-schema",
        "missing-schema",
        "hash-mismatch",
        "technical-error",
    ],
)
def test_fitkos_slugs_keep_fitkos_type(slug: str) -> None:
    assert Problem(slug, "metadata", "d").type == FITKO + slug


@pytest.mark.parametrize(
    "slug",
    [
        "invalid-event-log",
        "missing-data",
        "missing-attachment",
        "attachments-mismatch",
        "service-mismatch",
        "unsupported-reply-channel",
        "payment-information-implausible",
        "authentication-information-invalid",
    ],
)
def test_slugs_fitko_does_not_define_have_the_gateways_type(slug: str) -> None:
    problem = Problem(slug, "metadata", "d")
    assert problem.type == OWN + slug
    assert problem.as_json()["type"] == OWN + slug
    assert slug_of(problem.type) == slug


def test_slug_of_reads_both_namespaces_and_leaves_other_types() -> None:
    assert slug_of(FITKO + "hash-mismatch") == "hash-mismatch"
    assert slug_of(OWN + "missing-data") == "missing-data"
    assert slug_of("https://example.org/other") == "https://example.org/other"
