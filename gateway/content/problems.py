"""Rejection problems as FIT-Connect's ``reject-submission`` event carries them (RFC 7807 style).

``type`` is ``https://schema.fitko.de/fit-connect/events/problems/<slug>``; ``instance`` names
the part: ``metadata``, ``data``, ``attachment:<id>`` or ``submission``. Senders switch on
``type`` and ``instance``; ``title`` is fixed per slug; ``detail`` explains (with findings).

Slugs used by the gateway (FIT-Connect's list where it has one; the rest are stable names of
our own in the same namespace, see PROTOCOL.md §6.5):

=============================  ===============================================================
``incorrect-authentication-tag``  stored JWE tag differs from the ``submit-submission`` event
``invalid-event-log``          no verifiable ``submit-submission`` event
``encryption-issue``           a part cannot be decrypted (one problem whatever the cause)
``syntax-violation``           metadata or data cannot be parsed (strict JSON, hardened XML)
``schema-violation``           metadata or data do not match their schema (findings in detail)
``unsupported-schema``         metadata version or data schema not accepted here
``missing-schema``             data sent without a ``submissionSchema`` in the metadata
``missing-data``               metadata declares data that was not sent
``missing-attachment``         metadata lists an attachment that was not announced/uploaded
``attachments-mismatch``       an announced attachment is not in the metadata (or listed twice)
``hash-mismatch``              SHA-512 of a plaintext differs from the metadata
``service-mismatch``           metadata names another service than the submission
``unsupported-reply-channel``  the metadata's reply channel is not offered for the service
``technical-error``            the gateway could not process it, however often it retried
=============================  ===============================================================

Checks FIT-Connect names no problem for have types in the gateway's own namespace
(``urn:xoev-gateway:problem:<slug>``, :data:`OWN_SLUGS`): ``payment-information-implausible``
and ``authentication-information-invalid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.validation import Finding, PayloadRejected

__all__ = [
    "MAX_FINDINGS",
    "OWN_PROBLEM_BASE",
    "OWN_SLUGS",
    "PROBLEM_BASE",
    "TITLES",
    "Problem",
    "attachment",
    "describe",
    "from_rejection",
]

PROBLEM_BASE = "https://schema.fitko.de/fit-connect/events/problems/"
OWN_PROBLEM_BASE = "urn:xoev-gateway:problem:"
#: Slugs of checks FIT-Connect defines no problem type for.
OWN_SLUGS = frozenset({"payment-information-implausible", "authentication-information-invalid"})
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
        return (OWN_PROBLEM_BASE if self.slug in OWN_SLUGS else PROBLEM_BASE) + self.slug

    @property
    def title(self) -> str:
        return TITLES[self.slug]

    def as_json(self) -> dict[str, str]:
        """The problem object of a ``reject-submission`` SET (and of the dry-run answer)."""
        return {"type": self.type, "title": self.title, "detail": self.detail, "instance": self.instance}


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
