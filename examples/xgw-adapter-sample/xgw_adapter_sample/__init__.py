"""A sample vendor adapter: files each submission as a "Vorgang" in a small SQLite DMS.

It shows what a real adapter for a document-management system does:

* idempotency on the submission id, enforced by the DMS itself (a primary key), so a redelivered
  submission returns the existing Aktenzeichen instead of filing a second Vorgang;
* attachments streamed into a content-addressed blob store (``<blobs>/<sha512>``), hash-checked,
  never held in memory (:func:`gateway.adapters.save_attachment`);
* document names from :func:`gateway.adapters.attachment_filenames`: safe, unique, with the
  extension of their media type;
* the configured service name and the sender's reference from the typed view of the submission;
* foreign errors translated once: a locked database or a full disk → ``TransientDeliveryError``.

Registered as ``sample-dms`` in the entry-point group ``xoev_gateway.adapters``.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    Receipt,
    Submission,
    TransientDeliveryError,
    attachment_filenames,
    save_attachment,
)

__all__ = ["SampleDmsAdapter", "SampleDmsOptions"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS vorgang (
    submission_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, leika TEXT NOT NULL, leistung TEXT NOT NULL,
    sender_reference TEXT, schema_uri TEXT NOT NULL, data BLOB NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dokument (
    submission_id TEXT NOT NULL REFERENCES vorgang, position INTEGER NOT NULL, name TEXT NOT NULL,
    mime_type TEXT NOT NULL, sha512 TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (submission_id, position));
"""
#: The Aktenzeichen: year of receipt and the Vorgang's running number.
AKTENZEICHEN = "SELECT 'AZ-' || substr(received_at, 1, 4) || printf('-%06d', rowid) FROM vorgang"


class SampleDmsOptions(AdapterOptions):
    """Where the DMS keeps its database and its documents."""

    database: Path = Field(description="SQLite file of the DMS (created if missing)")
    blobs: Path | None = Field(default=None, description="document store; default: <database>.blobs/")


class SampleDmsAdapter(Adapter[SampleDmsOptions]):
    """Files each submission as a Vorgang with its documents in a SQLite DMS; answers the Aktenzeichen."""

    _prepared = False  # tables and blob store exist

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
            aktenzeichen = await asyncio.to_thread(self._aktenzeichen, submission.submission_id)
            if aktenzeichen is None:
                names = attachment_filenames(submission.attachments)
                documents = [
                    (position, name, a.mime_type, a.sha512.lower(), await self._store(a))
                    for position, (a, name) in enumerate(
                        zip(submission.attachments, names, strict=True), start=1
                    )
                ]
                aktenzeichen = await asyncio.to_thread(self._file, submission, documents)
                self.log.info("vorgang_angelegt", aktenzeichen=aktenzeichen)
        except sqlite3.OperationalError as exc:
            raise TransientDeliveryError(f"DMS database busy or unavailable: {exc}", retry_after=5) from exc
        except OSError as exc:
            raise TransientDeliveryError(f"DMS document store not writable: {exc}") from exc
        return Receipt(reference=aktenzeichen, detail="Vorgang angelegt")

    async def _store(self, attachment: AttachmentView) -> int:
        """Stream one attachment into the content-addressed store (hash-checked); return its size."""
        temp = self.blob_dir / f".tmp-{secrets.token_hex(8)}"
        size = await save_attachment(attachment, temp)
        await asyncio.to_thread(os.replace, temp, self.blob_dir / attachment.sha512.lower())
        return size

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._prepared:
            self._prepare()
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
        with contextlib.closing(sqlite3.connect(self.options.database)) as db:
            db.executescript(SCHEMA)
        self._prepared = True

    def _aktenzeichen(self, submission_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute(f"{AKTENZEICHEN} WHERE submission_id = ?", (submission_id,)).fetchone()
        return str(row[0]) if row else None

    def _file(self, submission: Submission, documents: list[tuple[int, str, str, str, int]]) -> str:
        """Insert Vorgang and Dokumente in one transaction; a concurrent twin makes this a no-op."""
        vorgang = (
            submission.submission_id,
            submission.case_id,
            submission.service.identifier,
            submission.service.name,
            submission.sender_reference,
            submission.schema_uri,
            submission.data,
            datetime.now(UTC).isoformat(),
        )
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                inserted = db.execute(
                    "INSERT INTO vorgang VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", vorgang
                ).rowcount
                if inserted:
                    rows = [(submission.submission_id, *doc) for doc in documents]
                    db.executemany("INSERT INTO dokument VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            row = db.execute(
                f"{AKTENZEICHEN} WHERE submission_id = ?", (submission.submission_id,)
            ).fetchone()
        return str(row[0])
