"""The stage message (the claim check every queue carries) and the outbox rows that route it.

A route is logical (``validate``, ``deliver.<destination id>``, ``callbacks``); the broker
topology turns it into this deployment's queue name. The message id is the idempotency key of the
step: ``<stage>:<submission id>`` (callbacks: per event).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import PermanentError
from gateway.store.models import Outbox, Submission

__all__ = ["MessageError", "Stage", "StageMessage", "callback_row", "stage_row"]

Stage = Literal["validate", "deliver", "callback"]
_STAGES: tuple[Stage, ...] = ("validate", "deliver", "callback")


class MessageError(PermanentError):
    """A queue message that is not a stage message (it can never be handled)."""

    slug = "message-invalid"


@dataclass(frozen=True, slots=True)
class StageMessage:
    """What a queue message says: which step, for which submission (ids only, never payload)."""

    stage: Stage
    submission_id: str
    destination_id: str | None = None
    event: str | None = None  #: the event a callback announces

    def envelope(self) -> dict[str, str]:
        """The JSON envelope on the wire."""
        out = {"stage": self.stage, "submissionId": self.submission_id}
        if self.destination_id is not None:
            out["destinationId"] = self.destination_id
        if self.event is not None:
            out["event"] = self.event
        return out

    @classmethod
    def parse(cls, envelope: Mapping[str, Any]) -> StageMessage:
        """The message of an envelope; raises :class:`MessageError` for anything else."""
        stage, submission_id = envelope.get("stage"), envelope.get("submissionId")
        if stage not in _STAGES or not isinstance(submission_id, str) or not submission_id:
            raise MessageError(f"not a stage message: {dict(envelope)!r}"[:300])
        destination_id, event = envelope.get("destinationId"), envelope.get("event")
        return cls(
            stage,
            submission_id,
            destination_id if isinstance(destination_id, str) else None,
            event if isinstance(event, str) else None,
        )


def _row(route: str, message_id: str, message: StageMessage) -> Outbox:
    return Outbox(queue=route, message_id=message_id, envelope=message.envelope())


def stage_row(stage: Literal["validate", "deliver"], submission: Submission) -> Outbox:
    """The outbox row that hands ``submission`` to the validate or the deliver stage."""
    if stage == "validate":
        return _row("validate", f"validate:{submission.id}", StageMessage("validate", submission.id))
    message = StageMessage("deliver", submission.id, submission.destination_id)
    return _row(f"deliver.{submission.destination_id}", f"deliver:{submission.id}", message)


def callback_row(submission: Submission, event: str) -> Outbox | None:
    """The outbox row announcing ``event`` to the sender, or ``None`` without a callback URL."""
    if not submission.callback_url or not submission.callback_secret:
        return None
    message = StageMessage("callback", submission.id, event=event)
    return _row("callbacks", f"callback:{submission.id}:{event}", message)
