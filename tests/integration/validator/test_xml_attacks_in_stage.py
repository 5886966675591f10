"""The XML attack cases (A1–A14) sent as real encrypted submissions: each ends in a signed reject
(or, for a harmless stylesheet PI, in `validated`), never a crash, never a network connection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.stages.validate import Validator
from tests.conftest import XBAU
from tests.integration.validator.support import XBAU_SAMPLE, rejected_with, send, status
from tests.security.test_xml_attacks import Listener

XBAU_NS = b'xmlns="http://www.xleitstelle.de/xbau/2/6"'


def attacks(port: int) -> dict[str, bytes]:
    lol = b"".join(
        b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">' % ((i,) + (i - 1,) * 10)
        for i in range(1, 10)
    )
    return {
        "A1 XXE local file": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        "A2 XXE SSRF": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:%d/x">]><r>&x;</r>'
        % port,
        "A3 external DTD": b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:%d/e.dtd"><r/>' % port,
        "A3 parameter entity": b'<!DOCTYPE r [<!ENTITY %% p SYSTEM "http://127.0.0.1:%d/p"> %%p;]><r/>'
        % port,
        "A4 billion laughs": b'<!DOCTYPE r [<!ENTITY l0 "lol">' + lol + b"]><r>&l9;</r>",
        "A6 XInclude": b'<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="file:///etc/passwd" parse="text"/></r>',
        "A7 schemaLocation redirect": b'<e:r xmlns:e="urn:evil" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="urn:evil http://127.0.0.1:%d/evil.xsd"/>' % port,
        "A8 deep nesting": b"<a>" * 10_000 + b"</a>" * 10_000,
        "A11 UTF-16": "<?xml version='1.0' encoding='UTF-16'?><r/>".encode("utf-16"),
        "A11 declared Latin-1": b"<?xml version='1.0' encoding='ISO-8859-1'?><r>\xe4</r>",
        "A11 NUL byte": b"<r>\x00</r>",
        "A13 schema-invalid XBau": XBAU_SAMPLE.replace(b"</", b"<unerwartet/></", 1),
        "A14 other version namespace": XBAU_SAMPLE.replace(b"xbau/2/6", b"xbau/2/5"),
    }


@pytest.fixture
def listener() -> Any:
    canary = Listener()
    yield canary
    canary.close()


EXPECTED = {
    "A6 XInclude": "schema-violation",
    "A7 schemaLocation redirect": "schema-violation",
    "A13 schema-invalid XBau": "schema-violation",
    "A14 other version namespace": "schema-violation",
}


@pytest.mark.parametrize("case", sorted(attacks(0)))
async def test_xml_attack_ends_in_a_signed_reject_without_network(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    validator: Validator,
    listener: Any,
    case: str,
) -> None:
    payload = attacks(listener.port)[case]
    ref = await send(vapi, auth, key, payload, XBAU)
    problems = await rejected_with(vapi, auth, validator, ref)
    assert problems == [(EXPECTED.get(case, "syntax-violation"), "data")]
    assert listener.accepted == 0


async def test_a_stylesheet_processing_instruction_is_ignored(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, listener: Any
) -> None:
    pi = b'<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:%d/x.xsl"?>' % listener.port
    head, _, body = XBAU_SAMPLE.partition(b"?>")
    ref = await send(vapi, auth, key, head + b"?>" + pi + body, XBAU)
    assert (await validator.process(ref["submissionId"])).status == "validated"
    assert await status(vapi, ref["submissionId"]) == "validated"
    assert listener.accepted == 0
