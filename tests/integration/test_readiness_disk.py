"""``/readyz`` reflects the blob disk: below ``limits.min_free_blob_bytes`` free it fails and says
where, while ``/healthz`` stays up (intake meanwhile answers 507 storage-full)."""

from __future__ import annotations

import shutil

import httpx


async def test_readyz_fails_when_the_blob_disk_is_nearly_full(api: httpx.AsyncClient) -> None:
    readiness = api.app.state.operations.readiness  # type: ignore[attr-defined]
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "blob disk" in {c["name"] for c in ready.json()["checks"]}
    free = shutil.disk_usage(readiness.blobs if readiness.blobs.exists() else readiness.blobs.parent).free
    readiness.min_free_bytes = free + 1024**3  # more than this disk has free
    full = await api.get("/readyz")
    assert full.status_code == 503 and full.headers["content-type"] == "application/problem+json"
    assert "blob disk:" in full.json()["detail"] and "MiB free under" in full.json()["detail"]
    assert (await api.get("/healthz")).status_code == 200
