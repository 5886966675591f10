"""Typed views of the FIT-Connect metadata fields a Fachverfahren acts on.

The metadata document (``Submission.metadata``) was validated against the FIT-Connect schema, so
the fields below have the declared shape when present; these views spare the adapter the key
names and the optional nesting. Read them through :attr:`Submission.reply_channel`,
:attr:`Submission.payment` and :attr:`Submission.sender_reference`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

ReplyKind = Literal["eMail", "deMail", "fink", "elster"]

#: Each reply channel with the key that addresses the applicant.
_ADDRESS_KEYS: tuple[tuple[ReplyKind, str], ...] = (
    ("eMail", "address"),
    ("deMail", "address"),
    ("fink", "finkPostfachRef"),
    ("elster", "accountId"),
)


@dataclass(frozen=True, slots=True)
class ReplyChannel:
    """Where the applicant wants the answer: ``kind`` and its ``address`` (e-mail address, FINK
    Postfach reference, ELSTER account id); ``details`` holds the channel's other fields
    (``pgpPublicKey``, ``host``, ``lieferTicket``…)."""

    kind: ReplyKind
    address: str
    details: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Payment:
    """What the payment service reported (``paymentInformation``)."""

    transaction_id: str
    transaction_reference: str
    method: str  #: ``GIROPAY`` | ``PAYDIRECT`` | ``CREDITCARD`` | ``PAYPAL`` | ``INVOICE`` | ``OTHER``
    status: str  #: ``INITIAL`` | ``BOOKED`` | ``FAILED`` | ``CANCELED``
    gross_amount: Decimal | None = None  #: in euros
    transaction_url: str | None = None
    transaction_timestamp: str | None = None  #: RFC 3339, as the payment service wrote it
    method_detail: str | None = None

    @property
    def booked(self) -> bool:
        """Whether the amount was booked."""
        return self.status == "BOOKED"


def reply_channel(metadata: Mapping[str, Any]) -> ReplyChannel | None:
    """The ``replyChannel`` of ``metadata``, or ``None`` if it names none this view knows."""
    channels = metadata.get("replyChannel")
    if not isinstance(channels, Mapping):
        return None
    for kind, key in _ADDRESS_KEYS:
        channel = channels.get(kind)
        if isinstance(channel, Mapping) and isinstance(channel.get(key), str):
            details = {k: v for k, v in channel.items() if k != key and isinstance(v, str)}
            return ReplyChannel(kind, channel[key], details)
    return None


def payment(metadata: Mapping[str, Any]) -> Payment | None:
    """The ``paymentInformation`` of ``metadata``, or ``None`` without one."""
    info = metadata.get("paymentInformation")
    if not isinstance(info, Mapping):
        return None
    amount = info.get("grossAmount")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        amount = None
    return Payment(
        transaction_id=str(info.get("transactionId", "")),
        transaction_reference=str(info.get("transactionReference", "")),
        method=str(info.get("paymentMethod", "")),
        status=str(info.get("status", "")),
        gross_amount=None if amount is None else Decimal(str(amount)),
        transaction_url=_text(info.get("transactionUrl")),
        transaction_timestamp=_text(info.get("transactionTimestamp")),
        method_detail=_text(info.get("paymentMethodDetail")),
    )


def sender_reference(metadata: Mapping[str, Any]) -> str | None:
    """``additionalReferenceInfo.senderReference``: the sender's own case reference, if given."""
    info = metadata.get("additionalReferenceInfo")
    return _text(info.get("senderReference")) if isinstance(info, Mapping) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
