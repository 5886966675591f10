"""The validation stage (process queue → ``validated`` or ``rejected``) and its shared checks.

:class:`Validator` is the stage; :func:`check_submission` is the one implementation of the
content checks, used by the stage and by the dry run (``POST /v1/validate``).
"""

from __future__ import annotations

from gateway.validator.checks import (
    JsonSchemas,
    NoJsonSchemas,
    OfferedSchema,
    Schemas,
    Subject,
    check_content,
    check_submission,
)
from gateway.validator.dry_run import DryRun, dry_run
from gateway.validator.keyring import destination_decryption_keys, destination_signer
from gateway.validator.parts import OpenedParts, Sealed, SealedParts, open_parts
from gateway.validator.problems import PROBLEM_BASE, TITLES, Problem
from gateway.validator.stage import ValidationOutcome, Validator

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
    "ValidationOutcome",
    "Validator",
    "check_content",
    "DryRun",
    "check_submission",
    "destination_decryption_keys",
    "destination_signer",
    "dry_run",
    "open_parts",
]
