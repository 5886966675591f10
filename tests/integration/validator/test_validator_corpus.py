"""Every corpus sample, encrypted and submitted through the API, gets the verdict the corpus records:
valid samples are ``validated`` and queued for delivery; invalid ones are rejected with the
finding (line and path) that names the offending element."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.stages.validate import Validator
from tests.conftest import ACTIVE
from tests.helpers import new_id
from tests.integration.validator.conftest import URI_BY_SET
from tests.integration.validator.support import PDF, outbox, rejection, send, slugs, status

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
XWAS = "/xwas:vorgang.transportieren.2010/xwas:vorgang/xwas:vorgangType/xwas:untersuchungsplan"
# sample -> (slug, line, path) of the first finding (tests/unit/validation/test_corpus.py)
INVALID = {
    "xwasser-1.0.0/samples/monitoring_plan_maximal.xml": (
        "schema-violation",
        75,
        f"{XWAS}/xwas:terminplan/xwas:probennahmestelleKategorie",
    ),
    "xwasser-1.0.0/samples/monitoring_plan_minimal.xml": (
        "schema-violation",
        74,
        f"{XWAS}/xwas:terminplan/xwas:probennahmestelleKategorie",
    ),
    "ubl-2.1-xrechnung/samples/kosit-validator-configuration/instances/ubl005.xml": (
        "schema-violation",
        15,
        "/Invoice/cbc:DueDate",
    ),
    "ubl-2.1-xrechnung/samples/kosit-validator-configuration/instances/ubl007.xml": (
        "syntax-violation",
        536,
        "",
    ),
}


def samples(set_name: str) -> list[Path]:
    return sorted((CORPUS / set_name / "samples").rglob("*.xml"))


def test_the_corpus_is_complete() -> None:
    assert sum(len(samples(name)) for name in URI_BY_SET) == 159
    assert all((CORPUS / relative).is_file() for relative in INVALID)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("set_name", sorted(URI_BY_SET))
async def test_every_valid_sample_of_a_standard_is_validated(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, set_name: str
) -> None:
    valid = [p for p in samples(set_name) if p.relative_to(CORPUS).as_posix() not in INVALID]
    assert valid
    ids = []
    for path in valid:
        aid = new_id()
        ref = await send(vapi, auth, key, path.read_bytes(), URI_BY_SET[set_name], attachments={aid: PDF})
        outcome = await validator.process(ref["submissionId"])
        assert outcome.status == "validated", (path.name, outcome.problems)
        assert await status(vapi, ref["submissionId"]) == "validated"
        ids.append(ref["submissionId"])
    rows = await outbox(vapi, "deliver.")
    assert [row.message_id for row in rows] == [f"deliver:{sid}" for sid in ids]
    assert all(row.queue == f"deliver.{ACTIVE}" for row in rows)
    assert rows[0].envelope == {"stage": "deliver", "submissionId": ids[0], "destinationId": ACTIVE}


@pytest.mark.parametrize("relative", sorted(INVALID))
async def test_an_invalid_sample_is_rejected_with_its_finding(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator, relative: str
) -> None:
    slug, line, path = INVALID[relative]
    ref = await send(vapi, auth, key, (CORPUS / relative).read_bytes(), URI_BY_SET[relative.split("/")[0]])
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status == "rejected"
    assert await status(vapi, ref["submissionId"]) == "rejected"
    problems = await rejection(vapi, auth, ref)
    assert slugs(problems) == [(slug, "data")]
    first_finding = problems[0]["detail"].splitlines()[1]
    assert first_finding.startswith(f"- line {line}, {path or '/'}: ")
    assert len(problems[0]["detail"].splitlines()) <= 21
    assert await outbox(vapi, "deliver.") == []
