"""The SDK surface: exported names, the base class, the submission view, errors, safe file names."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pydantic
import pytest
from pydantic import BaseModel, HttpUrl

import gateway.adapters
import gateway.adapters.host
from gateway.adapters import (
    Adapter,
    AdapterOptions,
    AttachmentView,
    ConfigError,
    NoOptions,
    PermanentDeliveryError,
    Receipt,
    Submission,
    TransientDeliveryError,
    is_safe_filename,
    safe_filename,
    unique_filename,
)
from gateway.adapters.testing import HOSTILE_FILENAMES, make_submission
from gateway.errors import GatewayError, PermanentError, TransientError


def test_exported_members_are_pinned() -> None:
    """Vendors get the SDK from ``gateway.adapters``; the gateway's own side is ``gateway.adapters.host``."""
    assert gateway.adapters.__all__ == [
        "Adapter",
        "AdapterOptions",
        "AttachmentView",
        "AuthenticationTags",
        "BodyFactory",
        "ConfigError",
        "HotFolder",
        "NoOptions",
        "Opener",
        "Payment",
        "PermanentDeliveryError",
        "Receipt",
        "ReplyChannel",
        "Service",
        "Submission",
        "TransientDeliveryError",
        "attachment_filenames",
        "check_endpoint",
        "extension_for",
        "http_outcome",
        "is_safe_filename",
        "parse_retry_after",
        "safe_filename",
        "save_attachment",
        "send_delivery",
        "unique_filename",
    ]
    assert gateway.adapters.host.__all__ == [
        "ENTRY_POINT_GROUP",
        "AdapterHealth",
        "AdapterInfo",
        "AdapterLoadError",
        "AdapterNotFoundError",
        "AdapterRegistry",
        "BoundAdapter",
        "CheckResult",
        "check_bindings",
    ]
    for module in (gateway.adapters, gateway.adapters.host):
        for name in module.__all__:
            assert getattr(module, name) is not None
    for name in gateway.adapters.host.__all__:
        assert not hasattr(gateway.adapters, name), f"{name} is the host's, not the vendors'"
    assert gateway.adapters.host.ENTRY_POINT_GROUP == "xoev_gateway.adapters"


class UrlOptions(AdapterOptions):
    url: HttpUrl
    retries: int = 3


class UrlAdapter(Adapter[UrlOptions]):
    """Posts somewhere."""

    async def deliver(self, submission: Submission) -> Receipt:
        return Receipt(reference=str(self.options.url))


class PlainAdapter(Adapter[NoOptions]):
    async def deliver(self, submission: Submission) -> Receipt:
        return Receipt()


def test_options_model_comes_from_the_generic_parameter() -> None:
    assert UrlAdapter.Options is UrlOptions
    assert PlainAdapter.Options is NoOptions

    class Explicit(UrlAdapter):
        Options = UrlOptions

    assert Explicit.Options is UrlOptions


def test_from_config_validates_and_names_the_key_path() -> None:
    assert UrlAdapter.from_config({"url": "https://dms.example.org/in"}).options.retries == 3
    with pytest.raises(ConfigError, match=r"^options\.url: Input should be a valid URL") as caught:
        UrlAdapter.from_config({"url": "nope"})
    assert caught.value.path == "options.url"
    with pytest.raises(
        ConfigError, match=r"^options\.url: Field required; options\.retries: Input should be"
    ):
        UrlAdapter.from_config({"retries": "many"})
    with pytest.raises(
        ConfigError, match=r"^tenants\.0\.adapter\.options\.urll: Extra inputs are not permitted"
    ):
        UrlAdapter.from_config({"url": "https://x.example", "urll": "y"}, path="tenants.0.adapter.options")


def test_adapter_refuses_options_of_the_wrong_model() -> None:
    with pytest.raises(TypeError, match="needs UrlOptions"):
        UrlAdapter(NoOptions())  # type: ignore[arg-type]


def test_an_adapter_without_deliver_cannot_be_built() -> None:
    class Lazy(Adapter[NoOptions]):
        pass

    with pytest.raises(TypeError):
        Lazy(NoOptions())  # type: ignore[abstract]


async def test_optional_hooks_do_nothing_by_default() -> None:
    adapter = PlainAdapter(NoOptions())
    await adapter.start()
    await adapter.check()
    await adapter.close()
    await adapter.close()


async def test_attachment_streams_in_chunks_and_reopens_from_the_start() -> None:
    content = bytes(range(256)) * 1000
    attachment = AttachmentView.from_bytes(content, attachment_id="a1", filename="x.bin", chunk_size=1000)
    chunks = [chunk async for chunk in attachment.open()]
    assert len(chunks) == 256 and b"".join(chunks) == content
    assert b"".join([c async for c in attachment.open()]) == content
    assert attachment.sha512 == hashlib.sha512(content).hexdigest() and attachment.size == len(content)


async def test_attachment_stream_closed_early_closes_the_source() -> None:
    closed = []

    async def opener() -> AsyncIterator[bytes]:
        try:
            for _ in range(10):
                yield b"x"
        finally:
            closed.append(True)

    attachment = AttachmentView(
        attachment_id="a",
        filename=None,
        mime_type="application/pdf",
        purpose="attachment",
        sha512="",
        opener=opener,
    )
    stream = attachment.open()
    assert await anext(stream) == b"x"
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed == [True]


def test_submission_is_a_frozen_view_keyed_by_its_id() -> None:
    submission = make_submission(submission_id="0f0e0d0c-0000-4000-8000-000000000001")
    assert submission.idempotency_key == "0f0e0d0c-0000-4000-8000-000000000001"
    assert submission.metadata["contentStructure"]["attachments"][0]["filename"] == "lageplan.pdf"
    with pytest.raises(AttributeError):
        submission.data = b""  # type: ignore[misc]


def test_delivery_errors_sit_in_the_gateway_error_tree_and_carry_attributes() -> None:
    transient = TransientDeliveryError("vendor down", retry_after=30)
    permanent = PermanentDeliveryError("Aktenzeichen unbekannt", code="E042")
    assert isinstance(transient, TransientError) and isinstance(transient, GatewayError)
    assert isinstance(permanent, PermanentError)
    assert (transient.detail, transient.retry_after) == ("vendor down", 30)
    assert (permanent.detail, permanent.code) == ("Aktenzeichen unbekannt", "E042")
    assert TransientDeliveryError("x").retry_after is None


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Lageplan.pdf", "Lageplan.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.tar.gz", "_LPT1.tar.gz"),
        ("bau\x00antrag.pdf", "bauantrag.pdf"),
        ("rechnung\u202efdp.exe", "rechnungfdp.exe"),
        ("zeile\r\nContent-Type: x", "zeileContent-Type_ x"),
        ('a<b>c:"d|e?f*g.pdf', "a_b_c__d_e_f_g.pdf"),
        (".htaccess", "htaccess"),
        ("-rf", "_rf"),
        ("   ", "attachment"),
        ("..", "attachment"),
        (None, "attachment"),
        ("Grundriß  Erdgeschoß.pdf", "Grundriß Erdgeschoß.pdf"),
        ("trailing dots... ", "trailing dots"),
    ],
)
def test_safe_filename(name: str | None, safe: str) -> None:
    assert safe_filename(name) == safe
    assert is_safe_filename(safe)


def test_safe_filename_caps_length_and_keeps_the_extension() -> None:
    assert safe_filename("A" * 10_000 + ".pdf") == "A" * 116 + ".pdf"
    long_utf8 = safe_filename("ß" * 300 + ".pdf", max_length=255)
    assert long_utf8.endswith(".pdf") and len(long_utf8.encode()) <= 255


@pytest.mark.parametrize("name", HOSTILE_FILENAMES)
def test_every_hostile_name_becomes_safe(name: str | None) -> None:
    assert is_safe_filename(safe_filename(name))


def test_unique_filename_ignores_case() -> None:
    taken = {"lageplan.pdf", "lageplan-2.pdf"}
    assert unique_filename("Lageplan.PDF", taken) == "Lageplan-3.PDF"
    assert unique_filename("anlage", {"anlage"}) == "anlage-2"
    assert unique_filename("neu.pdf", taken) == "neu.pdf"


@pytest.mark.parametrize(
    "name", ["", ".", "..", ".x", "a/b", "a\\b", "NUL", "x\x00", "x\u202e", "a" * 256, "a."]
)
def test_is_safe_filename_rejects(name: str) -> None:
    assert not is_safe_filename(name)


def test_options_models_reject_unknown_keys_and_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        UrlOptions.model_validate({"url": "https://x.example", "rety": 1})
    options = UrlOptions.model_validate({"url": "https://x.example"})
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        options.retries = 4  # type: ignore[misc]
    assert issubclass(AdapterOptions, BaseModel)
