"""A sample vendor adapter: files each submission as a "Vorgang" in a small SQLite DMS.

It shows what a real adapter for a document-management system does:

* idempotency on the submission id, enforced by the DMS itself (a primary key), so a redelivered
  submission returns the existing Aktenzeichen instead of filing a second Vorgang;
* attachments streamed into a content-addressed blob store (``<blobs>/<sha512>``), hash-checked,
  never held in memory;
* sender file names made safe with :func:`gateway.adapters.safe_filename`;
* foreign errors translated once: a locked database or a full disk → ``TransientDeliveryError``.

Registered as ``sample-dms`` in the entry-point group ``xoev_gateway.adapters``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from gateway.adapters import (
    Adapter,
    AdapterOptions,
    AttachmentView,
    ConfigError,
    PermanentDeliveryError,
    Receipt,
    Submission,
    TransientDeliveryError,
    safe_filename,
    unique_filename,
)

__all__ = ["SampleDmsAdapter", "SampleDmsOptions"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS vorgang (
    submission_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, aktenzeichen TEXT UNIQUE,
    leika TEXT NOT NULL, schema_uri TEXT NOT NULL, data BLOB NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dokument (
    submission_id TEXT NOT NULL REFERENCES vorgang, position INTEGER NOT NULL, name TEXT NOT NULL,
    mime_type TEXT NOT NULL, sha512 TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (submission_id, position));
"""


class SampleDmsOptions(AdapterOptions):
    """Where the DMS keeps its database and its documents."""

    database: Path = Field(description="SQLite file of the DMS (created if missing)")
    blobs: Path | None = Field(default=None, description="document store; default: <database>.blobs/")


class SampleDmsAdapter(Adapter[SampleDmsOptions]):
    """Files each submission as a Vorgang with its documents in a SQLite DMS; answers the Aktenzeichen."""

    def __init__(self, options: SampleDmsOptions) -> None:
        super().__init__(options)
        self._prepared = False

    @property
    def blob_dir(self) -> Path:
        return self.options.blobs or self.options.database.with_name(self.options.database.name + ".blobs")

    async def check(self) -> None:
        """Raises ``ConfigError`` if the database cannot be opened or the blob store is not writable."""
        try:
            await asyncio.to_thread(self._prepare)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"DMS not usable: {exc}", path="options.database") from exc

    async def start(self) -> None:
        await self.check()

    async def deliver(self, submission: Submission) -> Receipt:
        """File the submission, or return the Aktenzeichen it was filed under before."""
        try:
            existing = await asyncio.to_thread(self._aktenzeichen, submission.submission_id)
            if existing:
                return Receipt(reference=existing, detail="Vorgang angelegt")
            documents = []
            taken: set[str] = set()
            for position, attachment in enumerate(submission.attachments, start=1):
                name = unique_filename(
                    safe_filename(attachment.filename, fallback=f"dokument-{position}"), taken
                )
                taken.add(name.casefold())
                size = await self._store_blob(attachment)
                documents.append((position, name, attachment.mime_type, attachment.sha512.lower(), size))
            aktenzeichen = await asyncio.to_thread(self._file, submission, documents)
        except sqlite3.OperationalError as exc:
            raise TransientDeliveryError(f"DMS database busy or unavailable: {exc}", retry_after=5) from exc
        except OSError as exc:
            raise TransientDeliveryError(f"DMS document store not writable: {exc}") from exc
        self.log.info("vorgang_angelegt", submission_id=submission.submission_id, aktenzeichen=aktenzeichen)
        return Receipt(reference=aktenzeichen, detail="Vorgang angelegt")

    async def _store_blob(self, attachment: AttachmentView) -> int:
        """Stream one attachment into the content-addressed store; return its size."""
        target = self.blob_dir / attachment.sha512.lower()
        temp = self.blob_dir / f".tmp-{secrets.token_hex(8)}"
        digest, size = hashlib.sha512(), 0
        handle = await asyncio.to_thread(open, temp, "xb")
        try:
            async for chunk in attachment.open():
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(os.fsync, handle.fileno())
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        handle.close()
        if digest.hexdigest() != attachment.sha512.lower():
            temp.unlink(missing_ok=True)
            raise PermanentDeliveryError(f"Dokument {attachment.attachment_id}: Prüfsumme stimmt nicht")
        os.replace(temp, target)  # same content, same name: replacing is harmless
        return size

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.options.database, timeout=5, isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()

    def _prepare(self) -> None:
        """Create the blob store and the tables if need be; prove the store is writable."""
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        probe = self.blob_dir / f".tmp-check-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
        with self._connect() as db:
            db.executescript(SCHEMA)
        self._prepared = True

    def _aktenzeichen(self, submission_id: str) -> str | None:
        if not self._prepared:
            self._prepare()
        with self._connect() as db:
            row = db.execute(
                "SELECT aktenzeichen FROM vorgang WHERE submission_id = ?", (submission_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def _file(self, submission: Submission, documents: list[tuple[int, str, str, str, int]]) -> str:
        """Insert Vorgang and Dokumente in one transaction; a concurrent twin makes this a no-op."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    "INSERT INTO vorgang (submission_id, case_id, leika, schema_uri, data, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (submission_id) DO NOTHING",
                    (
                        submission.submission_id,
                        submission.case_id,
                        submission.service.identifier,
                        submission.schema_uri,
                        submission.data,
                        datetime.now(UTC).isoformat(),
                    ),
                )
                if cursor.rowcount == 1:
                    aktenzeichen = f"AZ-{datetime.now(UTC).year}-{cursor.lastrowid:06d}"
                    db.execute(
                        "UPDATE vorgang SET aktenzeichen = ? WHERE submission_id = ?",
                        (aktenzeichen, submission.submission_id),
                    )
                    db.executemany(
                        "INSERT INTO dokument VALUES (?, ?, ?, ?, ?, ?)",
                        [(submission.submission_id, *doc) for doc in documents],
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            row = db.execute(
                "SELECT aktenzeichen FROM vorgang WHERE submission_id = ?", (submission.submission_id,)
            ).fetchone()
        return str(row[0])
