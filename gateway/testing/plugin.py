"""pytest plugin of the adapter testing kit, loaded in every pytest run where the gateway is
installed (entry-point group ``pytest11``). It defines fixtures only, none autouse, and imports
the gateway only when a test asks for one:

``xgw_submission``
    a :class:`~gateway.testing.sender.SampleSubmission`: the shipped XBau building-permit
    application with a PDF site plan, as a sender holds it before encrypting it.
``xgw_vendor``
    a started :class:`~gateway.adapters.fake_vendor.FakeVendor` (a vendor REST endpoint on
    127.0.0.1 that succeeds, fails with a status or hangs on command).
``xgw_harness``
    an :class:`~gateway.testing.harness.AdapterHarness`: the adapter bound in a real gateway
    (SQLite in ``tmp_path``, the in-process broker), a submission sent through it and its outcome.

The contract tests of an adapter are one import away: ``from gateway.adapters.testing import
AdapterContractTests``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gateway.adapters.fake_vendor import FakeVendor
    from gateway.app import Libraries
    from gateway.testing.harness import AdapterHarness
    from gateway.testing.sender import SampleSubmission


@pytest.fixture
def xgw_submission() -> SampleSubmission:
    """The shipped XBau sample with one PDF attachment, in plaintext (``.encrypt(jwk)`` seals it)."""
    from gateway.testing.sender import sample_submission

    return sample_submission()


@pytest.fixture
def xgw_vendor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeVendor]:
    """A fake vendor endpoint on 127.0.0.1 (POST to ``.url``), stopped after the test."""
    from gateway.adapters.fake_vendor import FakeVendor

    vendor = FakeVendor(tmp_path_factory.mktemp("xgw-vendor")).start()
    yield vendor
    vendor.stop()


@pytest.fixture(scope="session")
def xgw_key_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness's RSA keys, generated once per test run."""
    from gateway.testing.harness import make_key_template

    return make_key_template(tmp_path_factory.mktemp("xgw-keys"))


@pytest.fixture(scope="session")
def xgw_libraries() -> Libraries:
    """The schema catalogue and metadata schemas, loaded once per test run."""
    from gateway.app import Libraries

    return Libraries.load()


@pytest.fixture
def xgw_harness(tmp_path: Path, xgw_key_template: Path, xgw_libraries: Libraries) -> AdapterHarness:
    """Runs an adapter through the gateway: ``await xgw_harness.deliver(MyAdapter, options)``."""
    from gateway.testing.harness import AdapterHarness

    return AdapterHarness(tmp_path, xgw_key_template, xgw_libraries)
