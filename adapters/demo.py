"""Demo adapters that succeed, reject and crash, so every path of the runner can be walked.

* ``demo-ok``: accepts everything; the reference is ``demo-<first 8 characters of the id>``.
* ``demo-reject``: always raises :class:`PermanentDeliveryError` → dead letter, no retry.
* ``demo-crash``: always raises a bare ``RuntimeError`` → treated as transient until the retry
  budget is spent, then parked.

They keep no state beyond the process, write nothing and need no options.
"""

from __future__ import annotations

import hashlib

import structlog
from pydantic import Field

from gateway.adapters import Adapter, AdapterOptions, NoOptions, PermanentDeliveryError, Receipt, Submission

log = structlog.get_logger(__name__)


class DemoOkAdapter(Adapter[NoOptions]):
    """Accepts every submission and answers with the reference ``demo-<short id>``.

    Reads every attachment to its end and checks its SHA-512, like a real Fachverfahren would;
    remembers what it delivered in memory (``delivered``), so re-delivery is a no-op.
    """

    def __init__(self, options: NoOptions) -> None:
        super().__init__(options)
        self.delivered: dict[str, Receipt] = {}

    async def deliver(self, submission: Submission) -> Receipt:
        """Return the receipt; raises :class:`PermanentDeliveryError` if an attachment is corrupt."""
        receipt = self.delivered.get(submission.submission_id)
        if receipt is not None:
            return receipt
        received = 0
        for attachment in submission.attachments:
            digest = hashlib.sha512()
            async for chunk in attachment.open():
                digest.update(chunk)
                received += len(chunk)
            if digest.hexdigest() != attachment.sha512.lower():
                raise PermanentDeliveryError(f"attachment {attachment.attachment_id}: SHA-512 mismatch")
        receipt = Receipt(
            reference=f"demo-{submission.submission_id[:8]}",
            detail=f"accepted by demo-ok: {len(submission.attachments)} attachment(s), {received} bytes",
        )
        self.delivered[submission.submission_id] = receipt
        log.info(
            "demo_delivered",
            submission_id=submission.submission_id,
            reference=receipt.reference,
            attachments=len(submission.attachments),
            attachment_bytes=received,
        )
        return receipt


class DemoRejectOptions(AdapterOptions):
    """What the rejection says."""

    detail: str = Field(default="rejected by demo-reject", description="reason given with every rejection")
    code: str | None = Field(
        default="demo-rejected", description="vendor reason code given with the rejection"
    )


class DemoRejectAdapter(Adapter[DemoRejectOptions]):
    """Rejects every submission permanently (``PermanentDeliveryError``): it goes to the dead letters."""

    async def deliver(self, submission: Submission) -> Receipt:
        """Raises :class:`PermanentDeliveryError`, always."""
        raise PermanentDeliveryError(self.options.detail, code=self.options.code)


class DemoCrashAdapter(Adapter[NoOptions]):
    """Crashes on every submission with a bare ``RuntimeError``: retried, then parked."""

    async def deliver(self, submission: Submission) -> Receipt:
        """Raises ``RuntimeError``, always."""
        raise RuntimeError(f"demo-crash crashed on submission {submission.submission_id}")
