"""Step 8 of the content checks: what the metadata declares beyond the parts is plausible here.

* ``replyChannel``: the channel (``eMail``, ``deMail``, ``fink``, ``elster``, ``fitConnect``)
  must be one the destination offers for the service (``unsupported-reply-channel``);
* ``paymentInformation``: a ``transactionTimestamp`` is the time of a *successful* payment, so it
  comes only with status ``BOOKED`` and never lies in the future (``payment-information-implausible``);
  amount and status themselves are the authority's business and go to the Fachverfahren as declared;
* ``authenticationInformation``: every proof's ``content`` is base64url (segments joined by ``.``,
  as in a JWS or JWE) that decodes (``authentication-information-invalid``). The gateway holds no
  trust anchors for identification reports; verifying their signatures is the Fachverfahren's.

The metadata schema has already checked the structure of each object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from gateway.content.declared import Declared
from gateway.content.problems import Problem
from gateway.crypto.b64 import b64url_decode

__all__ = ["check_declarations"]

CLOCK_SKEW = dt.timedelta(minutes=5)


def check_declarations(
    declared: Declared, offered_channels: frozenset[str], now: Callable[[], dt.datetime] | None = None
) -> list[Problem]:
    """Problems of the reply channel, payment and authentication information (empty: plausible)."""
    return [
        *_reply_channel(declared.reply_channel, offered_channels),
        *_payment(declared, (now or _utc_now)()),
        *_authentication(declared),
    ]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _reply_channel(channel: str | None, offered: frozenset[str]) -> list[Problem]:
    if channel is None or channel in offered:
        return []
    listed = ", ".join(sorted(offered)) or "none"
    detail = f"reply channel {channel[:40]!r} is not offered for this service (offered: {listed})"
    return [Problem("unsupported-reply-channel", "metadata", detail)]


def _payment(declared: Declared, now: dt.datetime) -> list[Problem]:
    payment = declared.payment
    if payment is None or "transactionTimestamp" not in payment:
        return []

    def implausible(detail: str) -> list[Problem]:
        return [Problem("payment-information-implausible", "metadata", detail)]

    if payment.get("status") != "BOOKED":
        return implausible(f"a transactionTimestamp with status {str(payment.get('status'))[:20]!r}")
    try:
        stamp = dt.datetime.fromisoformat(str(payment["transactionTimestamp"]))
    except ValueError:
        return implausible("transactionTimestamp is not an RFC 3339 date-time")
    if stamp.tzinfo is None:
        return implausible("transactionTimestamp has no time zone")
    if stamp > now + CLOCK_SKEW:
        return implausible("transactionTimestamp lies in the future")
    return []


def _decodes(content: str) -> bool:
    try:
        return all(b64url_decode(segment) for segment in content.split("."))
    except ValueError:
        return False


def _authentication(declared: Declared) -> list[Problem]:
    return [
        Problem(
            "authentication-information-invalid",
            "metadata",
            f"authenticationInformation[{index}].content is not base64url",
        )
        for index, proof in enumerate(declared.authentication)
        if not _decodes(str(proof.get("content", "")))
    ]
