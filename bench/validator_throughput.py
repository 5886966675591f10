"""Throughput of the validation stage (``Validator.process``) and the cost of its parts, in one run.

Two submissions shapes, each a metadata JWE + a data JWE (no attachments), RSA-OAEP-256 + A256GCM
to a fresh RSA-4096 destination key:

* ``xbau-10k``: the XBau 2.6 sample of ``gateway/data`` (baugenehmigung.antrag.0200), extended to
  about 10 KiB by repeating schema-valid ``<anlage>`` entries (the schema allows any number);
* ``ubl-420k``: the 420 KB XRechnung UBL invoice ``03.07a-INVOICE_ubl.xml`` of the KoSIT test
  suite (``tests/data/corpus/ubl-2.1-xrechnung``), schemaUri
  ``urn:xoev-de:kosit:standard:xrechnung_3.0``.

The gateway is built by the real composition root (``create_app`` + lifespan, ``run_stages=False``,
SQLite in a temp dir with the gateway's pragmas: WAL, ``synchronous=FULL``), logging configured as
``xgw serve`` does (JSON, level info) but written to /dev/null. Submissions are created through the
real intake over an in-process ASGI client (create + submit, as a sender would); that is not
timed. Per run and shape:

1. **throughput**: ``await validator.process(id)`` one after another over ``--submissions`` fresh
   submissions in one contiguous pass (every one must come out ``validated``): N / wall time, and
   CPU time (``process_time``, so the aiosqlite and worker threads count too). With
   ``--concurrency C`` (default 10, the consumer's prefetch) another fresh batch is processed with
   C calls in flight, as the AMQP consumer would run them.
2. **decomposition**, interleaved per submission so that every figure sees the same machine load
   (the machine is shared and its load drifts): ``process`` on submission i of a third batch, then
   the **parts** on that submission's stored blobs and submit SET, then the three **phases** of
   ``process`` on a twin submission of a fourth batch (the commit changes state, so it needs a
   fresh one): ``_load`` (ORM reads), ``_check`` (run inline instead of ``asyncio.to_thread``)
   and ``_conclude`` (status update + outbox row in one transaction = the DB commit part).
   The parts: RSA-4096 OAEP unwrap (with the keys freshly read from the key store, as the stage
   does per submission, and with a long-lived key object), AES-256-GCM decrypt + base64url
   decode of the ciphertext, metadata JSON Schema validation (strict parse included), SHA-512 of
   the data, ``catalogue.validate`` (hardened lxml parse + XSD validate), PS512 verify of the
   submit SET, the key-store reads, and a PS512 signature of a reject-like SET (**not on the
   validated path**: ``process`` signs only rejects; the script counts the event rows written
   meanwhile, which must stay 0).
3. **floors**: the four reads of ``_load`` with stdlib ``sqlite3`` on the same database file, and
   an UPDATE + INSERT + COMMIT with the gateway's pragmas in a scratch file next to it.

Per-submission figures are medians over the N submissions of a run (a preempted call does not
skew them); the report gives the median over ``--runs`` (min-max), compares the sum of the parts
with the median ``process`` latency of the interleaved pass, and names the largest part and the
largest remaining overhead.

    python bench/validator_throughput.py --submissions 50 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from e2e_kit.load import xbau_10k  # the same 10 KiB XBau as bench/e2e.py
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.content.checks import Subject
from gateway.crypto.jwe import _OAEP, _decode, decrypt_file, encrypt_compact  # noqa: PLC2701 (the stage's own primitives)
from gateway.crypto.jws import sign_ps512, split, verify_ps512
from gateway.crypto.keyring import destination_decryption_keys
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret
from gateway.events.sets import destination_signer
from gateway.logging import configure_logging
from gateway.stages.validate import ValidationOutcome, Validator
from gateway.store.models import Destination, Event, Submission

ROOT = Path(__file__).resolve().parents[1]
DEST = "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01"
LEIKA = "urn:de:fim:leika:leistung:99066006001000"
XBAU = "urn:xoev-de:bmk:standard:xbau_2.6"
XRECHNUNG = "urn:xoev-de:kosit:standard:xrechnung_3.0"
SECRET = "bench-secret-0123456789abcdef0123456789"
METADATA_1_0 = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
UBL_SAMPLE = "03.07a-INVOICE_ubl.xml"
MS = 1e3


def ubl_sample() -> bytes:
    found = sorted((ROOT / "tests/data/corpus/ubl-2.1-xrechnung").rglob(UBL_SAMPLE))
    if not found:
        sys.exit(f"{UBL_SAMPLE} not found under tests/data/corpus/ubl-2.1-xrechnung")
    return found[0].read_bytes()


@dataclass(frozen=True)
class Shape:
    name: str
    data: bytes
    schema_uri: str
    note: str


def metadata(data: bytes, schema_uri: str) -> bytes:
    doc = {
        "$schema": METADATA_1_0,
        "contentStructure": {
            "attachments": [],
            "data": {
                "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
                "submissionSchema": {"schemaUri": schema_uri, "mimeType": "application/xml"},
            },
        },
        "publicServiceType": {"identifier": LEIKA, "name": "Baugenehmigung"},
    }
    return json.dumps(doc).encode()


def settings_for(work: Path) -> Settings:
    schemas = [{"schema_uri": u, "mime_type": "application/xml"} for u in (XBAU, XRECHNUNG)]
    service = {
        "identifier": LEIKA,
        "name": "Baugenehmigung",
        "regions": ["064350014014"],
        "submission_schemas": schemas,
    }
    return Settings.load(
        None,
        base_url="http://gateway.bench",
        data_dir=work / "data",
        key_dir=work / "keys",
        database_url=f"sqlite+aiosqlite:///{work / 'gateway.db'}",
        run_stages=False,
        tenants=[
            {"id": "musterstadt", "destinations": [{"id": DEST, "name": "Bauamt", "services": [service]}]}
        ],
        clients=[{"id": "portal", "secret_hash": hash_secret(SECRET), "regions": ["06435"]}],
    )


class Sender:
    """Creates and submits submissions through the real intake (in-process ASGI client)."""

    def __init__(self, api: httpx.AsyncClient, auth: dict[str, str], jwk: dict[str, Any]) -> None:
        self.api, self.auth, self.jwk = api, auth, jwk

    async def submit(self, shape: Shape) -> str:
        meta = metadata(shape.data, shape.schema_uri)
        body = {
            "encryptedMetadata": encrypt_compact(self.jwk, meta, "application/json"),
            "encryptedData": encrypt_compact(self.jwk, shape.data, "application/xml"),
        }
        created = await self.api.post(
            "/v1/submissions",
            json={
                "destinationId": DEST,
                "announcedAttachments": [],
                "serviceType": {"name": "Baugenehmigung", "identifier": LEIKA},
            },
            headers=self.auth,
        )
        assert created.status_code == 201, created.text
        sid = str(created.json()["submissionId"])
        submitted = await self.api.put(f"/v1/submissions/{sid}", json=body, headers=self.auth)
        assert submitted.status_code == 200, submitted.text
        return sid

    async def batch(self, shape: Shape, n: int) -> list[str]:
        return [await self.submit(shape) for _ in range(n)]


@dataclass(frozen=True)
class Stored:
    """What the stage reads for one submission: the JWE blob files and the submit SET."""

    submission_id: str
    case_id: str
    jwe_paths: tuple[Path, ...]  # metadata, data
    submit_set: str


async def stored(gateway: Any, ids: list[str]) -> list[Stored]:
    out = []
    async with gateway.sessions() as session:
        for sid in ids:
            row = await session.get(Submission, sid)
            assert row is not None and row.data_blob and row.metadata_blob
            token = await session.scalar(
                select(Event.token).where(Event.submission_id == sid, Event.event == "submit-submission")
            )
            assert token is not None
            paths = (gateway.blobs.path(row.metadata_blob), gateway.blobs.path(row.data_blob))
            out.append(Stored(sid, row.case_id, paths, token))
    return out


async def count_events(gateway: Any) -> int:
    async with gateway.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def parts_of(
    item: Stored, gateway: Any, validator: Validator, subject: Subject, warm_key: Any
) -> dict[str, float]:
    """Seconds per part for one submission, each step done the way the stage does it."""
    keys: KeyStore = gateway.keys
    limits = validator.limits
    out: dict[str, float] = dict.fromkeys(
        (
            "key_reads",
            "unwrap_stage",
            "unwrap_warm",
            "aes_b64",
            "set_verify",
            "metadata",
            "sha512",
            "xsd",
            "set_sign",
            "decrypt_stream",
        ),
        0.0,
    )
    # the stage reads the destination's and the gateway's keys from the key store per submission
    out["key_reads"], (dkeys, gateway_pairs) = timed(
        lambda: (destination_decryption_keys(keys, DEST), keys.keys("gateway"))
    )
    signers = {p.kid: p.private_key.public_key() for p in gateway_pairs}

    def verify() -> None:
        header, _claims, _input, _sig = split(item.submit_set, "PS512")
        verify_ps512(item.submit_set, signers[str(header["kid"])])

    out["set_verify"], _ = timed(verify)
    plaintexts = []
    for path in item.jwe_paths:
        header_seg, key_seg, iv_seg, ct_seg, tag_seg = path.read_bytes().split(b".")
        key = dkeys[json.loads(_decode(header_seg))["kid"]]
        encrypted_key = _decode(key_seg)
        t0 = time.perf_counter()
        cek = key.decrypt(encrypted_key, _OAEP)  # freshly loaded key: 1st use, then 2nd use
        t1 = time.perf_counter()
        warm_key.decrypt(encrypted_key, _OAEP)  # a long-lived key object
        t2 = time.perf_counter()
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(_decode(iv_seg), _decode(tag_seg))).decryptor()
        decryptor.authenticate_additional_data(header_seg)
        plain = decryptor.update(_decode(ct_seg))
        decryptor.finalize()
        t3 = time.perf_counter()
        out["unwrap_stage"] += t1 - t0
        out["unwrap_warm"] += t2 - t1
        out["aes_b64"] += t3 - t2
        plaintexts.append(plain)
    meta_plain, data_plain = plaintexts
    out["metadata"], _ = timed(
        lambda: validator.schemas.metadata.validate(meta_plain, allowed_versions=subject.metadata_versions)
    )
    out["sha512"], _ = timed(lambda: hashlib.sha512(data_plain).hexdigest())
    uri = json.loads(meta_plain)["contentStructure"]["data"]["submissionSchema"]["schemaUri"]
    out["xsd"], _ = timed(
        lambda: validator.schemas.catalogue.validate(uri, data_plain, max_bytes=limits.max_inflated_bytes)
    )
    # a reject-like SET (what Validator.process would sign for a rejected submission)
    signer = destination_signer(keys, DEST)
    claims = signer.claims("reject-submission", item.submission_id, item.case_id, {"problems": []})
    out["set_sign"], _ = timed(
        lambda: sign_ps512(signer.key, {"kid": signer.kid, "typ": "secevent+jwt"}, claims)
    )
    # cross-check: the real decrypt_stream over both blob files (warm keys)
    sink: list[bytes] = []
    out["decrypt_stream"], _ = timed(
        lambda: [
            decrypt_file(p, dkeys, sink.append, max_inflated=limits.max_inflated_bytes)
            for p in item.jwe_paths
        ]
    )
    return out


def sqlite_floors(database: Path, scratch: Path, items: list[Stored]) -> dict[str, list[float]]:
    """Seconds, per submission, of the same reads and the same kind of commit with stdlib sqlite3.

    Reads: the four queries of ``_load`` on the gateway's database (read-only connection).
    Commit: UPDATE one row + INSERT one outbox-like row + COMMIT, in a scratch database in the
    same directory with the gateway's pragmas (WAL, synchronous=FULL), so one WAL fsync each.
    """
    reads = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    read_times, commit_times = [], []
    for item in items:
        start = time.perf_counter()
        row = reads.execute("SELECT * FROM submissions WHERE id = ?", (item.submission_id,)).fetchone()
        reads.execute("SELECT * FROM destinations WHERE id = ?", (row[2],)).fetchone()
        reads.execute("SELECT * FROM attachments WHERE submission_id = ?", (item.submission_id,)).fetchall()
        reads.execute(
            "SELECT token FROM events WHERE submission_id = ? AND event = ? ORDER BY id DESC",
            (item.submission_id, "submit-submission"),
        ).fetchone()
        read_times.append(time.perf_counter() - start)
    reads.close()
    scratch.unlink(missing_ok=True)
    db = sqlite3.connect(scratch, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE sub (id TEXT PRIMARY KEY, status TEXT, updated_at TEXT)")
    db.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT, message_id TEXT,"
        " envelope TEXT, created_at TEXT, attempts INTEGER)"
    )
    db.executemany("INSERT INTO sub VALUES (?, 'submitted', '')", [(i.submission_id,) for i in items])
    for item in items:
        start = time.perf_counter()
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        db.execute("BEGIN")
        db.execute(
            "UPDATE sub SET status = 'validated', updated_at = ? WHERE id = ? AND status = 'submitted'",
            (now, item.submission_id),
        )
        envelope = json.dumps({"stage": "deliver", "submissionId": item.submission_id, "destinationId": DEST})
        db.execute(
            "INSERT INTO outbox (queue, message_id, envelope, created_at, attempts) VALUES (?, ?, ?, ?, 0)",
            (f"deliver.{DEST}", f"deliver:{item.submission_id}", envelope, now),
        )
        db.execute("COMMIT")
        commit_times.append(time.perf_counter() - start)
    db.close()
    return {"sqlite_reads": read_times, "sqlite_commit": commit_times}


async def one_run(
    shape: Shape, gateway: Any, sender: Sender, n: int, concurrency: int, warm_key: Any, work: Path
) -> dict[str, float]:
    """Every figure of one run of one shape, in ms per submission (``*_per_s`` in 1/s)."""
    validator: Validator = gateway.validator
    result: dict[str, float] = {}
    pass_ids = await sender.batch(shape, n)
    part_ids = await sender.batch(shape, n)
    phase_ids = await sender.batch(shape, n)
    conc_ids = await sender.batch(shape, n) if concurrency > 1 else []
    events_before = await count_events(gateway)

    # 1. throughput: one contiguous pass, one submission at a time, as a worker with prefetch 1
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for sid in pass_ids:
        outcome = await validator.process(sid)
        assert outcome.status == "validated", (sid, outcome.problems)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    result["seq_per_s"] = n / wall
    result["wall_per_sub"] = wall / n * MS
    result["cpu"] = cpu / n * MS

    # 1b. throughput with `concurrency` in flight, as the consumer with that prefetch
    if conc_ids:
        gate = asyncio.Semaphore(concurrency)

        async def one(sid: str) -> None:
            async with gate:
                outcome = await validator.process(sid)
                assert outcome.status == "validated", (sid, outcome.problems)

        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(sid) for sid in conc_ids))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        result["conc_per_s"] = n / wall
        result["conc_cpu"] = cpu / n * MS

    # 2. decomposition, interleaved per submission so that all figures see the same machine load:
    #    process() on submission i, its parts on the same stored inputs, and the three phases of
    #    process() on a twin submission (the commit changes state, so it needs a fresh one)
    async with gateway.sessions() as session:
        destination = await session.get(Destination, DEST)
    assert destination is not None
    subject = Subject.of(destination, LEIKA, [])
    items = await stored(gateway, part_ids)
    samples: dict[str, list[float]] = {"total": [], "phase_load": [], "phase_check": [], "phase_conclude": []}
    gc.collect()
    for item, twin in zip(items, phase_ids, strict=True):
        t0 = time.perf_counter()
        outcome = await validator.process(item.submission_id)
        samples["total"].append(time.perf_counter() - t0)
        assert outcome.status == "validated", (item.submission_id, outcome.problems)
        for key, value in parts_of(item, gateway, validator, subject, warm_key).items():
            samples.setdefault(key, []).append(value)
        t0 = time.perf_counter()
        loaded = await validator._load(twin)  # noqa: SLF001
        t1 = time.perf_counter()
        assert not isinstance(loaded, ValidationOutcome), loaded
        problems = validator._check(loaded)  # noqa: SLF001 (inline, not in a worker thread)
        t2 = time.perf_counter()
        done = await validator._conclude(loaded, problems)  # noqa: SLF001
        t3 = time.perf_counter()
        assert done.status == "validated", (twin, done.problems)
        samples["phase_load"].append(t1 - t0)
        samples["phase_check"].append(t2 - t1)
        samples["phase_conclude"].append(t3 - t2)
    result["events_written"] = await count_events(gateway) - events_before
    samples.update(sqlite_floors(work / "gateway.db", work / "scratch.db", items))
    for key, values in samples.items():
        result[key] = statistics.median(values) * MS
    result["commit"] = result["phase_conclude"]
    result["db_load"] = result["phase_load"]
    return result


def fmt(values: list[float], digits: int = 2) -> tuple[str, str]:
    med = statistics.median(values)
    return f"{med:,.{digits}f}", f"{min(values):,.{digits}f}\u2013{max(values):,.{digits}f}"


# the parts the brief names, as they happen inside Validator.process for a valid submission
LISTED = [
    ("unwrap_stage", "RSA-4096 OAEP unwrap, 2 JWEs (keys as the stage loads them)"),
    ("aes_b64", "AES-256-GCM decrypt + base64url decode, 2 JWEs"),
    ("xsd", "lxml parse + XSD validate (catalogue.validate)"),
    ("metadata", "metadata JSON Schema validation (incl. strict parse)"),
    ("commit", "DB commit (_conclude: UPDATE + outbox row, SQLite WAL, sync=FULL)"),
]
# further steps of process() found in the code, measured the same way
EXTRA = [
    ("db_load", "DB reads (_load: submission, destination, attachments, submit SET)"),
    ("key_reads", "key store reads (KeyStore.keys: destination + gateway, per submission)"),
    ("set_verify", "PS512 verify of the submit SET"),
    ("sha512", "SHA-512 of the data (hash check)"),
]


def report(shape: Shape, runs: list[dict[str, float]], n: int, concurrency: int) -> list[str]:
    derived = []
    for r in runs:
        listed = sum(r[k] for k, _ in LISTED)
        extra = sum(r[k] for k, _ in EXTRA)
        in_check = ("unwrap_stage", "aes_b64", "xsd", "metadata", "key_reads", "set_verify", "sha512")
        derived.append(
            {
                "listed_sum": listed,
                "listed_rest": r["total"] - listed,
                "all_sum": listed + extra,
                "all_rest": r["total"] - listed - extra,
                "first_use": r["unwrap_stage"] - r["unwrap_warm"],
                "unwrap_warm_jwe": r["unwrap_warm"] / 2,
                "handoff": r["total"] - r["phase_load"] - r["phase_check"] - r["phase_conclude"],
                "check_rest": r["phase_check"] - sum(r[k] for k in in_check),
                "db_layer": r["db_load"] - r["sqlite_reads"] + r["commit"] - r["sqlite_commit"],
            }
        )
    table = {key: [r[key] for r in runs] for key in runs[0]}
    table.update({key: [x[key] for x in derived] for key in derived[0]})
    med = {key: statistics.median(values) for key, values in table.items()}
    total = med["total"]

    def pct(value: float) -> str:
        return f"{100 * value / total:.0f} %"

    def row(label: str, key: str, *, digits: int = 2, share: str | None = None, bold: bool = False) -> str:
        value, spread = fmt(table[key], digits)
        value = f"**{value}**" if bold else value
        return f"| {label} | {value} | {spread} | {pct(med[key]) if share is None else share} |"

    lines = [
        f"### {shape.name}: {shape.note}",
        "",
        f"{len(shape.data):,} B of XML; per submission 2 JWEs (metadata + data), no attachments; "
        f"{n} submissions per batch, {len(runs)} runs.",
        "",
        "| figure (ms per submission unless stated) | median of runs | min\u2013max | share of `process` |",
        "|---|---|---|---|",
        row(
            "**`Validator.process`, one at a time: submissions/s**",
            "seq_per_s",
            digits=0,
            share="",
            bold=True,
        ),
        row("wall time of the contiguous pass \u00f7 N", "wall_per_sub", share=""),
        row("CPU time of the pass \u00f7 N (`process_time`, all threads)", "cpu", share=""),
        row(
            "**`process` latency, median of N, interleaved pass** (the total below)",
            "total",
            share="100 %",
            bold=True,
        ),
    ]
    if concurrency > 1:
        lines += [
            row(f"`process`, {concurrency} in flight: submissions/s", "conc_per_s", digits=0, share=""),
            row(f"CPU time \u00f7 N, {concurrency} in flight", "conc_cpu", share=""),
        ]
    lines.append("| *parts named in the brief* | | | |")
    lines += [row(label, key) for key, label in LISTED]
    lines += [
        row("&nbsp;&nbsp;unwrap with a long-lived key object, per JWE", "unwrap_warm_jwe", share=""),
        row("&nbsp;&nbsp;first use of the freshly loaded key (stage \u2212 long-lived)", "first_use"),
        row(
            "PS512 SET signing, RSA-4096 (**not run for a valid submission**, not summed)",
            "set_sign",
            share=f"({pct(med['set_sign'])})",
        ),
        row("**sum of the named parts**", "listed_sum", bold=True),
        row("**`process` \u2212 sum of the named parts**", "listed_rest", bold=True),
        "| *further steps of `process`, measured the same way* | | | |",
    ]
    lines += [row(label, key) for key, label in EXTRA]
    lines += [
        row("sum of all measured parts", "all_sum"),
        row("`process` \u2212 all parts (unexplained)", "all_rest"),
        "| *diagnostics* | | | |",
        row("`_load` phase (twin submission)", "phase_load"),
        row("`_check` phase, run inline (twin submission)", "phase_check"),
        row("`_conclude` phase (twin submission)", "phase_conclude"),
        row("`process` \u2212 the three phases (to_thread hand-off, log context)", "handoff"),
        row("`_check` \u2212 its parts (file reads, JWE framing, subject, checks)", "check_rest"),
        row("floor: the 4 reads of `_load` with stdlib sqlite3", "sqlite_reads"),
        row("floor: UPDATE + INSERT + COMMIT, stdlib sqlite3, same pragmas (1 WAL fsync)", "sqlite_commit"),
        row("async DB layer above the floors ((`_load` + `_conclude`) \u2212 floors)", "db_layer"),
        row("cross-check: real `decrypt_stream` of both blobs (long-lived keys)", "decrypt_stream", share=""),
        f"| event rows written during the timed pass (SET signatures) | "
        f"{int(max(table['events_written']))} | | |",
        "",
    ]
    biggest = max(((label, med[key]) for key, label in LISTED), key=lambda kv: kv[1])
    rest = {label: med[key] for key, label in EXTRA}
    rest["unexplained"] = med["all_rest"]
    top = max(rest.items(), key=lambda kv: kv[1])
    lines += [
        f"Largest part: {biggest[0]}, {biggest[1]:.2f} ms ({pct(biggest[1])}). "
        f"`process` \u2212 named parts = {med['listed_rest']:.2f} ms ({pct(med['listed_rest'])}); "
        f"its largest item: {top[0]}, {top[1]:.2f} ms ({pct(top[1])}). "
        f"The async DB layer (SQLAlchemy asyncio + aiosqlite) above the stdlib-sqlite3 floors: "
        f"{med['db_layer']:.2f} ms ({pct(med['db_layer'])}).",
        "",
    ]
    return lines


async def main_async(args: argparse.Namespace) -> None:
    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="xgw-bench-"))
    try:
        keys = KeyStore(work / "keys")
        started = time.perf_counter()
        keys.generate(DEST, "encryption")
        keys.generate(DEST, "signing")
        keys.generate("gateway", "signing")
        print(f"generated 3 RSA-4096 keys in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        warm_key = next(p for p in keys.keys(DEST) if p.purpose == "encryption").private_key
        shapes = [
            Shape(
                "xbau-10k",
                xbau_10k(),
                XBAU,
                "XBau 2.6 baugenehmigung.antrag.0200, sample extended with <anlage> entries",
            ),
            Shape(
                "ubl-420k", ubl_sample(), XRECHNUNG, f"XRechnung UBL invoice {UBL_SAMPLE} (KoSIT test suite)"
            ),
        ]
        app = create_app(settings_for(work))
        async with app.router.lifespan_context(app):
            gateway = app.state.gateway
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway.bench", timeout=120
            ) as api:
                form = {"grant_type": "client_credentials", "client_id": "portal", "client_secret": SECRET}
                access = (await api.post("/token", data=form)).json()["access_token"]
                auth = {"Authorization": f"Bearer {access}"}
                info = (await api.get(f"/v1/destinations/{DEST}", headers=auth)).json()
                jwk = (await api.get(f"/v1/destinations/{DEST}/keys/{info['encryptionKid']}")).json()
                sender = Sender(api, auth, jwk)
                for shape in shapes:  # warm-up: imports, first compile paths, SQLite pages
                    await one_run(shape, gateway, sender, 3, 0, warm_key, work)
                results: dict[str, list[dict[str, float]]] = {s.name: [] for s in shapes}
                for run in range(args.runs):
                    for shape in shapes:
                        started = time.perf_counter()
                        r = await one_run(
                            shape, gateway, sender, args.submissions, args.concurrency, warm_key, work
                        )
                        results[shape.name].append(r)
                        print(
                            f"run {run + 1} {shape.name}: {r['seq_per_s']:.0f}/s, {r['total']:.2f} ms/sub "
                            f"({time.perf_counter() - started:.0f} s with setup)",
                            file=sys.stderr,
                        )
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())  # noqa: ASYNC240
        print(
            f"# validator_throughput: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs "
            f"({cpu.group(1) if cpu else platform.machine()}), Python {platform.python_version()}, "
            f"load avg at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}"
        )
        print(
            f"# command: python bench/validator_throughput.py --submissions {args.submissions} "
            f"--runs {args.runs} --concurrency {args.concurrency}"
        )
        print()
        for shape in shapes:
            print("\n".join(report(shape, results[shape.name], args.submissions, args.concurrency)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--submissions", type=int, default=50, help="submissions per batch, shape and run (default 50)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs; figures are the median (default 3)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=10,
        help="in-flight process() calls of the concurrent pass; 0 skips it (default 10)",
    )
    args = parser.parse_args()
    configure_logging("json", "info")  # as `xgw serve` logs, but to /dev/null
    devnull = open(os.devnull, "w")  # noqa: SIM115
    logging.getLogger().handlers[0].setStream(devnull)  # type: ignore[attr-defined]
    try:
        asyncio.run(main_async(args))
    finally:
        devnull.close()


if __name__ == "__main__":
    main()
