"""Step 8 of the content checks: reply channel offered, payment and authentication plausible."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.content.declared import Declared
from gateway.content.plausible import check_declarations

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def declared(**fields: Any) -> Declared:
    return Declared(None, None, (), **fields)


def slugs(subject: Declared, offered: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    problems = check_declarations(subject, offered, now=lambda: NOW)
    return [(p.slug, p.instance, p.type) for p in problems]


def test_a_reply_channel_the_service_does_not_offer_is_unsupported_reply_channel() -> None:
    assert slugs(declared(reply_channel="eMail"), frozenset({"eMail", "fink"})) == []
    assert slugs(declared()) == []  # no reply channel: the authority answers by post
    assert slugs(declared(reply_channel="deMail"), frozenset({"eMail"})) == [
        (
            "unsupported-reply-channel",
            "metadata",
            "urn:xoev-gateway:problem:unsupported-reply-channel",
        )
    ]


def payment(**fields: Any) -> Declared:
    base = {"transactionReference": "K-1", "transactionId": "t-1", "paymentMethod": "CREDITCARD"}
    return declared(payment={**base, **fields})


def test_payment_timestamps_only_for_booked_payments_and_never_in_the_future() -> None:
    assert slugs(payment(status="INITIAL")) == []
    assert slugs(payment(status="BOOKED", transactionTimestamp="2026-06-01T11:00:00Z")) == []
    own = "urn:xoev-gateway:problem:payment-information-implausible"
    for bad in (
        payment(status="FAILED", transactionTimestamp="2026-06-01T11:00:00Z"),
        payment(status="BOOKED", transactionTimestamp="2026-06-02T11:00:00+00:00"),
        payment(status="BOOKED", transactionTimestamp="2026-06-01T11:00:00"),
        payment(status="BOOKED", transactionTimestamp="yesterday"),
    ):
        assert slugs(bad) == [("payment-information-implausible", "metadata", own)], bad.payment


def test_authentication_content_must_decode_as_base64url_segments() -> None:
    good = {"type": "identificationReport", "version": "1.0.0", "content": "eyJhIjoxfQ.e30.c2ln"}
    assert slugs(declared(authentication=(good,))) == []
    bad = {**good, "content": "eyJhIjoxfQ..c2ln"}
    worse = {**good, "content": "a"}
    assert [s[:2] for s in slugs(declared(authentication=(good, bad, worse)))] == [
        ("authentication-information-invalid", "metadata"),
        ("authentication-information-invalid", "metadata"),
    ]
