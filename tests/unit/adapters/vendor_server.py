"""The vendor endpoint of the pipeline and fault tests: the SDK's public fake under its old name."""

from __future__ import annotations

from gateway.adapters.fake_vendor import Answer, Recorded, parse_multipart, received_files
from gateway.adapters.fake_vendor import FakeVendor as VendorServer

__all__ = ["Answer", "Recorded", "VendorServer", "parse_multipart", "received_files"]
