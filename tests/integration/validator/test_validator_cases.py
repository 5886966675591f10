"""The validation stage on crafted submissions: a valid one is queued for delivery exactly once
(also under concurrent runs and with ``zip: DEF``); each content problem becomes a signed
``reject-submission`` event with the FIT-Connect problem type and instance, and notifies the
sender's callback in the same transaction."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.stages.validate import Validator
from gateway.store.models import Submission
from tests.conftest import ACTIVE, LEIKA, XBAU
from tests.helpers import counts, encrypt, gateway_of, new_id
from tests.integration.validator.conftest import FIM_JSON, LEIKA_2, UNKNOWN_XML, XDOMEA
from tests.integration.validator.support import (
    PDF,
    XBAU_SAMPLE,
    metadata,
    outbox,
    rejected_with,
    send,
    send_tokens,
    status,
)

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
XDOMEA_SAMPLE = next((CORPUS / "xdomea-3.0.0/samples").rglob("*.xml")).read_bytes()


async def test_a_valid_submission_is_queued_for_delivery_once(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    first, second = new_id(), new_id()
    ref = await send(vapi, auth, key, XBAU_SAMPLE, XBAU, attachments={first: PDF, second: b"%PDF-1.7 plan"})
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status == "validated" and outcome.problems == ()
    assert await status(vapi, ref["submissionId"]) == "validated"
    rows = await outbox(vapi)
    assert [(r.queue, r.message_id, r.envelope) for r in rows] == [
        (
            f"deliver.{ACTIVE}",
            f"deliver:{ref['submissionId']}",
            {"stage": "deliver", "submissionId": ref["submissionId"], "destinationId": ACTIVE},
        )
    ]
    log = (await vapi.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)).json()["eventLog"]
    assert len(log) == 2  # accept-submission is the delivery stage's
    before = await counts(vapi)
    again = await validator.process(ref["submissionId"])
    assert again.status == "skipped" and "validated" in again.detail
    assert await counts(vapi) == before
    assert (await validator.process(new_id())).status == "skipped"


async def test_concurrent_runs_validate_once(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    ref = await send(vapi, auth, key, XBAU_SAMPLE, XBAU)
    outcomes = await asyncio.gather(*(validator.process(ref["submissionId"]) for _ in range(3)))
    assert sorted(o.status for o in outcomes).count("validated") == 1
    assert len(await outbox(vapi, "deliver.")) == 1


async def test_fitconnect_clients_using_zip_def_are_validated(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    aid = new_id()
    ref = await send_tokens(
        vapi,
        auth,
        metadata_token=encrypt(
            key, metadata(XBAU_SAMPLE, {aid: PDF}, XBAU), cty="application/json", zip="DEF"
        ),
        data_token=encrypt(key, XBAU_SAMPLE, zip="DEF"),
        attachments={aid: encrypt(key, PDF, cty="application/pdf", zip="DEF")},
    )
    assert (await validator.process(ref["submissionId"])).status == "validated"


# --- content problems --------------------------------------------------------------------------------

AID = "0b799252-deb9-42b0-98d3-c50d24bbafe0"


def _wrong_hash(doc: dict[str, Any], where: str) -> dict[str, Any]:
    target = doc["contentStructure"]["data"] if where == "data" else doc["contentStructure"]["attachments"][0]
    target["hash"]["content"] = "0" * 128
    return doc


CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "wrong data hash": ({"edit": lambda d: _wrong_hash(d, "data")}, [("hash-mismatch", "data")]),
    "wrong attachment hash": (
        {"edit": lambda d: _wrong_hash(d, "attachment")},
        [("hash-mismatch", f"attachment:{AID}")],
    ),
    "wrong mime type": ({"mime": "application/json"}, [("unsupported-schema", "data")]),
    "schema not in the catalogue": ({"uri": UNKNOWN_XML}, [("unsupported-schema", "data")]),
    "JSON schema not registered": (
        {"uri": FIM_JSON, "mime": "application/json", "data": b'{"antrag": 1}'},
        [("unsupported-schema", "data")],
    ),
    "schema not offered for the service": (
        {"uri": XDOMEA, "data": XDOMEA_SAMPLE, "service": LEIKA_2, "meta_service": LEIKA_2},
        [("unsupported-schema", "data")],
    ),
    "schemaUri offered by nobody": (
        {"uri": "urn:xoev-de:nobody:standard:x_1.0"},
        [("unsupported-schema", "data")],
    ),
    "metadata version unknown": ({"version": "1.4.0"}, [("unsupported-schema", "metadata")]),
    "metadata not valid": (
        {"edit": lambda d: {k: v for k, v in d.items() if k != "contentStructure"}},
        [("schema-violation", "metadata")],
    ),
    "metadata not JSON": ({"raw": b"<metadata/>"}, [("syntax-violation", "metadata")]),
    "broken XML": ({"data": b"<antrag><unclosed></antrag>"}, [("syntax-violation", "data")]),
    "XML against the wrong standard": ({"data": XDOMEA_SAMPLE}, [("schema-violation", "data")]),
    "data declared but not sent": ({"send_data": False}, [("missing-data", "data")]),
    "data sent but not declared": ({"declare_data": False}, [("missing-schema", "data")]),
    "attachment in metadata not announced": (
        {"edit": lambda d: _extra_attachment(d)},
        [("missing-attachment", "attachment:1b799252-deb9-42b0-98d3-c50d24bbafe0")],
    ),
    "announced attachment not in metadata": (
        {"edit": lambda d: _no_attachments(d)},
        [("attachments-mismatch", f"attachment:{AID}")],
    ),
    "metadata names another service": ({"meta_service": LEIKA_2}, [("service-mismatch", "metadata")]),
}


def _extra_attachment(doc: dict[str, Any]) -> dict[str, Any]:
    extra = dict(
        doc["contentStructure"]["attachments"][0], attachmentId="1b799252-deb9-42b0-98d3-c50d24bbafe0"
    )
    doc["contentStructure"]["attachments"].append(extra)
    return doc


def _no_attachments(doc: dict[str, Any]) -> dict[str, Any]:
    doc["contentStructure"]["attachments"] = []
    return doc


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_content_problem_is_a_signed_rejection(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, case: str
) -> None:
    options, expected = CASES[case]
    data = options.get("data", XBAU_SAMPLE)
    uri, mime = options.get("uri", XBAU), options.get("mime", "application/xml")
    aid = AID
    declared = data if options.get("declare_data", True) else None
    doc = json.loads(
        metadata(
            declared,
            {aid: PDF},
            uri,
            mime,
            version=options.get("version", "1.0.0"),
            service=options.get("meta_service", LEIKA),
        )
    )
    raw = options.get("raw") or json.dumps(options.get("edit", lambda d: d)(doc)).encode()
    ref = await send_tokens(
        vapi,
        auth,
        metadata_token=encrypt(key, raw, cty="application/json"),
        data_token=encrypt(key, data, cty=mime) if options.get("send_data", True) else None,
        attachments={aid: encrypt(key, PDF, cty="application/pdf")},
        service=options.get("service", LEIKA),
    )
    assert await rejected_with(vapi, auth, validator, ref) == expected


async def test_the_reject_event_notifies_the_sender_in_the_same_transaction(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    callback = {"url": "https://portal.example/callbacks", "secret": "c" * 40}
    quiet = await send(vapi, auth, key, b"<broken", XBAU)
    loud = await send(vapi, auth, key, b"<broken", XBAU, callback=callback)
    valid = await send(vapi, auth, key, XBAU_SAMPLE, XBAU, callback=callback)
    for ref in (quiet, loud, valid):
        await validator.process(ref["submissionId"])
    rows = await outbox(vapi, "callbacks")
    assert [(r.message_id, r.envelope) for r in rows] == [
        (
            f"callback:{loud['submissionId']}:reject-submission",
            {"stage": "callback", "submissionId": loud["submissionId"], "event": "reject-submission"},
        )
    ]
    async with gateway_of(vapi).sessions() as session:
        row = await session.get(Submission, valid["submissionId"])
    assert row is not None and row.status == "validated"
