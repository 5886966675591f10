"""Rejection problems as FIT-Connect's ``reject-submission`` event carries them (RFC 7807 style).

``instance`` names the part: ``metadata``, ``data``, ``attachment:<id>`` or ``submission``.
Senders switch on ``type`` and ``instance``; ``title`` is fixed per slug; ``detail`` explains
(with findings).

``type`` is FITKO's ``https://schema.fitko.de/fit-connect/events/problems/<slug>`` only for the
slugs the protocol reference (``PROTOCOL.md`` §6.5) names as FITKO's list of rejection problems;
every other check has a stable type of the gateway's own, ``urn:xoev-gateway:problem:<slug>``
(:data:`OWN_SLUGS`), because FITKO's namespace must hold no slug FITKO does not define.

FITKO's namespace:

================================  ============================================================
``incorrect-authentication-tag``  stored JWE tag differs from the ``submit-submission`` event
``encryption-issue``              a part cannot be decrypted (one problem whatever the cause)
``syntax-violation``              metadata or data cannot be parsed (strict JSON, hardened XML)
``schema-violation``              metadata or data do not match their schema (findings in detail)
``unsupported-schema``            metadata version or data schema not accepted here
``missing-schema``                data sent without a ``submissionSchema`` in the metadata
``hash-mismatch``                 SHA-512 of a plaintext differs from the metadata
``technical-error``               the gateway could not process it, however often it retried
================================  ============================================================

The gateway's own namespace (the reference knows these slugs only as unconfirmed recollections):

======================================  ======================================================
``invalid-event-log``                   no verifiable ``submit-submission`` event
``missing-data``                        metadata declares data that was not sent
``missing-attachment``                  metadata lists an attachment not announced/uploaded
``attachments-mismatch``                an announced attachment is not in the metadata (or twice)
``service-mismatch``                    metadata names another service than the submission
``unsupported-reply-channel``           the metadata's reply channel is not offered for the service
``payment-information-implausible``     payment information that cannot be true
``authentication-information-invalid``  an identification report that is not base64url
======================================  ======================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.validation import Finding, PayloadRejected

__all__ = [
    "FITKO_SLUGS",
    "MAX_FINDINGS",
    "OWN_PROBLEM_BASE",
    "OWN_SLUGS",
    "PROBLEM_BASE",
    "TITLES",
    "Problem",
    "attachment",
    "describe",
    "from_rejection",
    "slug_of",
]

PROBLEM_BASE = "https://schema.fitko.de/fit-connect/events/problems/"
OWN_PROBLEM_BASE = "urn:xoev-gateway:problem:"
#: Slugs with FITKO's problem type (``PROBLEM_BASE``): the reference's list of FITKO's rejection problems.
FITKO_SLUGS = frozenset(
    {
        "incorrect-authentication-tag",
        "encryption-issue",
        "syntax-violation",
        "schema-violation",
        "unsupported-schema",
        "missing-schema",
        "hash-mismatch",
        "technical-error",
    }
)
#: Slugs of checks FITKO defines no problem type for (as far as known): ``OWN_PROBLEM_BASE``.
OWN_SLUGS = frozenset(
    {
        "invalid-event-log",
        "missing-data",
        "missing-attachment",
        "attachments-mismatch",
        "service-mismatch",
        "unsupported-reply-channel",
        "payment-information-implausible",
        "authentication-information-invalid",
    }
)
MAX_FINDINGS = 20
_DETAIL_LIMIT = 300

TITLES: dict[str, str] = {
    "incorrect-authentication-tag": "Authentication-Tag ungültig",
    "invalid-event-log": "Event-Log inkonsistent",
    "encryption-issue": "Entschlüsselungsfehler",
    "syntax-violation": "Syntax-Fehler",
    "schema-violation": "Schema-Fehler",
    "unsupported-schema": "Schema nicht unterstützt",
    "missing-schema": "Schema-Referenz fehlt",
    "missing-data": "Fachdaten fehlen",
    "missing-attachment": "Anlage fehlt",
    "attachments-mismatch": "Anlagen stimmen nicht überein",
    "hash-mismatch": "Prüfsumme stimmt nicht überein",
    "service-mismatch": "Verwaltungsleistung stimmt nicht überein",
    "unsupported-reply-channel": "Rückkanal nicht unterstützt",
    "payment-information-implausible": "Bezahlinformationen unplausibel",
    "authentication-information-invalid": "Identifikationsnachweis ungültig",
    "technical-error": "Technischer Fehler",
}


@dataclass(frozen=True)
class Problem:
    """One reason to reject a submission."""

    slug: str
    instance: str
    detail: str

    def __post_init__(self) -> None:
        if self.slug not in TITLES:
            raise ValueError(f"unknown problem slug {self.slug!r}")

    @property
    def type(self) -> str:
        return (PROBLEM_BASE if self.slug in FITKO_SLUGS else OWN_PROBLEM_BASE) + self.slug

    @property
    def title(self) -> str:
        return TITLES[self.slug]

    def as_json(self) -> dict[str, str]:
        """The problem object of a ``reject-submission`` SET (and of the dry-run answer)."""
        return {"type": self.type, "title": self.title, "detail": self.detail, "instance": self.instance}


def slug_of(problem_type: str) -> str:
    """The slug of a problem ``type`` in either namespace (any other ``type`` unchanged)."""
    for base in (PROBLEM_BASE, OWN_PROBLEM_BASE):
        if problem_type.startswith(base):
            return problem_type.removeprefix(base)
    return problem_type


def attachment(attachment_id: str) -> str:
    """The ``instance`` of an attachment."""
    return f"attachment:{attachment_id}"


def _finding(finding: Finding) -> str:
    where = f"line {finding.line}, " if finding.line is not None else ""
    return f"{where}{finding.path or '/'}: {finding.message}"


def describe(detail: str, findings: Sequence[Finding]) -> str:
    """``detail`` followed by at most :data:`MAX_FINDINGS` findings, one per line."""
    lines = [detail[:_DETAIL_LIMIT]]
    lines.extend(f"- {_finding(f)}" for f in findings[:MAX_FINDINGS])
    return "\n".join(lines)


def from_rejection(error: PayloadRejected, instance: str) -> Problem:
    """The problem of a validation error (its slug, detail and findings)."""
    return Problem(error.slug, instance, describe(error.detail, error.findings))
