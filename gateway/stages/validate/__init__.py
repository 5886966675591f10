"""The validate stage: a submitted submission in, ``validated`` (routed on to delivery) or
``rejected`` (a signed ``reject-submission`` event) out; and the dry run behind ``POST /v1/validate``.
"""

from __future__ import annotations

from gateway.stages.validate.dry_run import DryRun, dry_run
from gateway.stages.validate.stage import ValidationOutcome, Validator

__all__ = ["DryRun", "ValidationOutcome", "Validator", "dry_run"]
