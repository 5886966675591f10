"""The content checks of a submission: decrypt its parts, check metadata, attachments, hashes and
data against the schemas. A library below the validate stage, also used by the dry run.

:func:`check_submission` is the one implementation; everything here is synchronous and CPU-bound.
"""

from __future__ import annotations

from gateway.content.checks import (
    JsonSchemas,
    NoJsonSchemas,
    OfferedSchema,
    Schemas,
    Subject,
    check_content,
    check_submission,
)
from gateway.content.parts import OpenedParts, Sealed, SealedParts, open_parts, stored_tag
from gateway.content.problems import PROBLEM_BASE, TITLES, Problem

__all__ = [
    "PROBLEM_BASE",
    "TITLES",
    "JsonSchemas",
    "NoJsonSchemas",
    "OfferedSchema",
    "OpenedParts",
    "Problem",
    "Schemas",
    "Sealed",
    "SealedParts",
    "Subject",
    "check_content",
    "check_submission",
    "open_parts",
    "stored_tag",
]
