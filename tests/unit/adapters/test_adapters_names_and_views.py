"""Attachment names with the right extension, and the typed views of the metadata."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters import (
    AttachmentView,
    Payment,
    PermanentDeliveryError,
    ReplyChannel,
    attachment_filenames,
    extension_for,
    is_safe_filename,
    save_attachment,
)
from gateway.adapters.testing import HOSTILE_FILENAMES, make_submission


@pytest.mark.parametrize(
    ("mime_type", "extension"),
    [
        ("application/pdf", ".pdf"),
        ("application/xml", ".xml"),
        ("text/xml", ".xml"),
        ("application/json", ".json"),
        ("image/jpeg", ".jpg"),
        ("image/tiff", ".tif"),
        ("IMAGE/PNG", ".png"),
        ("text/plain; charset=utf-8", ".txt"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
        ("application/pkcs7-signature", ".p7s"),
        ("application/x-unknown", ".bin"),
        ("", ".bin"),
        ("../../etc/passwd", ".bin"),
    ],
)
def test_media_type_maps_to_an_extension(mime_type: str, extension: str) -> None:
    assert extension_for(mime_type) == extension


def attachment(
    filename: str | None, mime_type: str = "application/pdf", purpose: str = "attachment"
) -> AttachmentView:
    return AttachmentView.from_bytes(
        b"%PDF", attachment_id="a", filename=filename, mime_type=mime_type, purpose=purpose
    )


def test_nameless_attachments_are_named_after_purpose_and_position_with_their_extension() -> None:
    names = attachment_filenames(
        [
            attachment(None, purpose="form"),
            attachment("", "image/tiff"),
            attachment("..", "application/xml", purpose="report"),
            attachment(None, "application/x-unknown", purpose="something-else"),
        ]
    )
    assert names == ["form-1.pdf", "attachment-2.tif", "report-3.xml", "attachment-4.bin"]


def test_sender_names_are_kept_made_unique_and_given_a_missing_extension() -> None:
    names = attachment_filenames(
        [
            attachment("Lageplan.pdf"),
            attachment("lageplan.PDF"),
            attachment("Grundriss"),
            attachment("scan.v2"),
        ]
    )
    assert names == ["Lageplan.pdf", "lageplan-2.PDF", "Grundriss.pdf", "scan.v2"]


def test_hostile_names_become_safe_and_distinct() -> None:
    names = attachment_filenames([attachment(name) for name in HOSTILE_FILENAMES])
    assert all(map(is_safe_filename, names))
    assert len({name.casefold() for name in names}) == len(names)


async def test_save_attachment_streams_and_checks_the_declared_hash(tmp_path: Path) -> None:
    good = AttachmentView.from_bytes(b"content " * 1000, attachment_id="a", chunk_size=100)
    assert await save_attachment(good, tmp_path / "good") == 8000
    assert (tmp_path / "good").read_bytes() == b"content " * 1000
    forged = dataclasses.replace(good, sha512="ab" * 64)
    with pytest.raises(PermanentDeliveryError, match="does not match"):
        await save_attachment(forged, tmp_path / "forged")
    assert not (tmp_path / "forged").exists()
    with pytest.raises(FileExistsError):
        await save_attachment(good, tmp_path / "good")


def with_metadata(**fields: Any) -> Any:
    submission = make_submission()
    return dataclasses.replace(submission, metadata={**submission.metadata, **fields})


def test_metadata_views_are_none_when_the_sender_gave_nothing() -> None:
    submission = make_submission()
    assert (submission.sender_reference, submission.reply_channel, submission.payment) == (None, None, None)
    assert submission.service.name == "Baugenehmigung"


def test_sender_reference() -> None:
    submission = with_metadata(additionalReferenceInfo={"senderReference": "OZG-2025-17"})
    assert submission.sender_reference == "OZG-2025-17"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (
            {"eMail": {"address": "a@example.org", "pgpPublicKey": "KEY"}},
            ReplyChannel("eMail", "a@example.org", {"pgpPublicKey": "KEY"}),
        ),
        ({"deMail": {"address": "a@de-mail.example"}}, ReplyChannel("deMail", "a@de-mail.example", {})),
        (
            {"fink": {"finkPostfachRef": "ref-1", "host": "https://fink.example"}},
            ReplyChannel("fink", "ref-1", {"host": "https://fink.example"}),
        ),
        (
            {"elster": {"accountId": "123", "lieferTicket": "t"}},
            ReplyChannel("elster", "123", {"lieferTicket": "t"}),
        ),
        ({"pigeon": {"address": "roof"}}, None),
    ],
)
def test_reply_channel(channel: dict[str, Any], expected: ReplyChannel | None) -> None:
    assert with_metadata(replyChannel=channel).reply_channel == expected


def test_payment() -> None:
    submission = with_metadata(
        paymentInformation={
            "transactionId": "tx-1",
            "transactionReference": "ref",
            "paymentMethod": "CREDITCARD",
            "status": "BOOKED",
            "grossAmount": 123.45,
            "transactionUrl": "https://pay.example/tx-1",
        }
    )
    assert submission.payment == Payment(
        transaction_id="tx-1",
        transaction_reference="ref",
        method="CREDITCARD",
        status="BOOKED",
        gross_amount=Decimal("123.45"),
        transaction_url="https://pay.example/tx-1",
    )
    assert submission.payment is not None and submission.payment.booked
