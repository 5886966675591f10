"""The deliver queues' handler for destinations with a ``fit-connect-subscriber`` binding.

A validated submission of such a destination is not given to an adapter: its metadata, data and
each attachment are decrypted with the destination's key and encrypted again to the
Fachverfahren's public key (compact JWE, RSA-OAEP-256/A256GCM, as FIT-Connect prescribes),
streamed blob to blob, so no plaintext is ever stored. The new blobs and their authentication
tags become a :class:`~gateway.store.pickups.Pickup` in state ``waiting``; the submission stays
``validated`` until the subscriber answers (:mod:`gateway.stages.pickup.answers`).

Messages of other destinations go to the wrapped handler (the adapter deliver stage) unchanged.
A copy of a message whose pickup exists already is done; a failure to store is retried.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker import DONE, Delivery, Handler, Outcome, Retry, Wait
from gateway.config.settings import Limits
from gateway.crypto.jwe import DecryptionKeys, decrypt_file
from gateway.crypto.jwe_writer import JweWriter
from gateway.crypto.keyring import destination_decryption_keys
from gateway.crypto.keys import KeyStore
from gateway.errors import GatewayError
from gateway.routing.routes import StageMessage
from gateway.routing.subscribers import SubscriberBinding, Subscribers
from gateway.stages.deliver.view import stream_opener
from gateway.store.audit import Entry, record
from gateway.store.blobs import BlobStore
from gateway.store.lifecycle import SubmissionStatus
from gateway.store.models import Attachment, Submission
from gateway.store.pauses import is_paused
from gateway.store.pickups import Pickup, PickupStatus

__all__ = ["SubscriberHandoff"]
log = structlog.get_logger()


@dataclass
class SubscriberHandoff:
    """Hands submissions of subscriber destinations over for pickup; the rest to ``inner``."""

    inner: Handler
    subscribers: Subscribers
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    keys: KeyStore
    limits: Limits
    recheck_seconds: float = 60.0

    async def handle(self, delivery: Delivery) -> Outcome:
        message = StageMessage.parse(delivery.envelope)
        if message.destination_id is not None and not self.subscribers.of_destination(message.destination_id):
            return await self.inner.handle(delivery)
        async with self.sessions() as session:
            row = await session.get(Submission, message.submission_id)
            binding = self.subscribers.of_destination(row.destination_id) if row else None
            if row is None or binding is None:
                return await self.inner.handle(delivery)
            done = await session.get(Pickup, row.id) is not None
            paused = await is_paused(session, row.destination_id)
            blobs = {
                a.attachment_id: a.blob
                for a in await session.scalars(select(Attachment).where(Attachment.submission_id == row.id))
            }
        with structlog.contextvars.bound_contextvars(
            submission_id=row.id, destination_id=row.destination_id, adapter=binding.client_id
        ):
            if done or row.status != SubmissionStatus.VALIDATED:
                log.info("handoff_skipped", status=row.status, picked=done)
                return DONE
            if paused:
                return Wait(self.recheck_seconds, "the destination is paused")
            try:
                await self._hand_over(row, binding, blobs)
            except GatewayError as exc:  # the blob store or database failed: try again later
                log.warning("handoff_failed", error=exc.detail)
                return Retry(exc.detail[:500])
        return DONE

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        return await self.inner.parked(delivery, reason)

    async def _hand_over(self, row: Submission, binding: SubscriberBinding, blobs: dict[str, str]) -> None:
        keys = destination_decryption_keys(self.keys, row.destination_id)
        assert row.metadata_blob is not None
        metadata_plain = b"".join([c async for c in self._plain(row.metadata_blob, keys)])
        structure = json.loads(metadata_plain).get("contentStructure", {})
        mime_types = {a.get("attachmentId"): a.get("mimeType") for a in structure.get("attachments", [])}
        data_mime = ((structure.get("data") or {}).get("submissionSchema") or {}).get("mimeType")
        written: list[str] = []
        try:
            writer = JweWriter(binding.encryption_key, "application/json")
            metadata_blob = await self.blobs.write_bytes(writer.whole(metadata_plain).encode("ascii"))
            written.append(metadata_blob)
            tags: dict[str, Any] = {"metadata": writer.tag, "attachments": {}}
            data_blob = None
            if row.data_blob:
                data_blob, tags["data"] = await self._reencrypt(
                    row.data_blob, keys, binding, data_mime or "application/octet-stream"
                )
                written.append(data_blob)
            attachment_blobs: dict[str, str] = {}
            for attachment_id in row.announced_attachments:
                mime = mime_types.get(attachment_id) or "application/octet-stream"
                blob, tag = await self._reencrypt(blobs[attachment_id], keys, binding, mime)
                written.append(blob)
                attachment_blobs[attachment_id] = blob
                tags["attachments"][attachment_id] = tag
            async with self.sessions.begin() as session:
                if await session.get(Pickup, row.id) is not None:
                    raise _AlreadyThere()
                session.add(
                    Pickup(
                        submission_id=row.id,
                        destination_id=row.destination_id,
                        case_id=row.case_id,
                        status=PickupStatus.WAITING.value,
                        metadata_blob=metadata_blob,
                        data_blob=data_blob,
                        attachment_blobs=attachment_blobs,
                        authentication_tags=tags,
                    )
                )
                record(
                    session, Entry("subscriber.waiting", row.id, row.case_id, row.destination_id, "waiting")
                )
        except _AlreadyThere:
            for name in written:
                self.blobs.delete(name)
            return
        except BaseException:
            for name in written:
                self.blobs.delete(name)
            raise
        log.info("submission_waiting_for_pickup", attachments=len(attachment_blobs))

    def _plain(self, blob: str, keys: DecryptionKeys) -> AsyncIterator[bytes]:
        path, limit = self.blobs.path(blob), self.limits.max_inflated_bytes
        return stream_opener(lambda sink: decrypt_file(path, keys, sink, max_inflated=limit))()

    async def _reencrypt(
        self, blob: str, keys: DecryptionKeys, binding: SubscriberBinding, cty: str
    ) -> tuple[str, str]:
        """A new blob holding the plaintext of ``blob`` encrypted to the Fachverfahren; its tag."""
        writer = JweWriter(binding.encryption_key, cty)

        async def chunks() -> AsyncIterator[bytes]:
            yield writer.begin()
            async for plain in self._plain(blob, keys):
                if out := writer.update(plain):
                    yield out
            yield writer.finish()

        name, _size = await self.blobs.write_stream(chunks(), lambda _chunk: None)
        return name, writer.tag


class _AlreadyThere(Exception):
    """Another copy of the message stored the pickup first."""
