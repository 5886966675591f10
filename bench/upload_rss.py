"""Peak memory of the gateway while it receives one large encrypted attachment.

Starts ``xgw serve`` (embedded default) in a temporary directory, encrypts a large attachment to
the demo destination's key as a FIT-Connect sender would (RSA-OAEP-256 + A256GCM, streamed to a
file), uploads it with a streaming HTTP client, and samples the server's RSS. Baselines measured
in the same run: the server's RSS before the upload, and the rate at which this machine copies
the same file to disk with fsync (the floor for "stream to disk").

    python bench/upload_rss.py --mb 500
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LEIKA = "urn:de:fim:leika:leistung:99066006001000"


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def encrypt_to_file(jwk: dict[str, str], size: int, path: Path) -> None:
    """A real compact JWE of ``size`` random-ish plaintext bytes, written in chunks."""
    n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big")
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    cek, iv = os.urandom(32), os.urandom(12)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    header = b64url(
        json.dumps(
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": jwk["kid"], "cty": "application/pdf"}
        ).encode()
    )
    encryptor = Cipher(algorithms.AES(cek), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(header)
    block = os.urandom(3 * 1024 * 1024)
    with path.open("wb") as out:
        out.write(header + b"." + b64url(public.encrypt(cek, oaep)) + b"." + b64url(iv) + b".")
        for _ in range(size // len(block)):
            out.write(b64url(encryptor.update(block)))
        out.write(b64url(encryptor.update(block[: size % len(block)])))
        encryptor.finalize()
        out.write(b"." + b64url(encryptor.tag))


def disk_copy_rate(path: Path, target: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1024 * 1024):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - start
    target.unlink()
    return path.stat().st_size / elapsed / 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500, help="encrypted size in MB (default 500)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xgw-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("w")
    xgw = Path(sys.executable).with_name("xgw")
    env = {**os.environ, "XGW_LOG_FORMAT": "json", "XGW_LIMITS__MAX_ATTACHMENT_BYTES": str(600 * 1024 * 1024)}
    server = subprocess.Popen(
        [str(xgw), "serve", "--port", str(port)], cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        out = (work / "serve.log").read_text()
        field = lambda label: re.search(rf"{label}\s*:\s*(\S+)", out).group(1)  # noqa: E731
        dest, client_id, secret = field("destination id"), field("client id"), field("client secret")
        token = httpx.post(
            f"{base}/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        destination = httpx.get(f"{base}/v1/destinations/{dest}", headers=auth).json()
        jwk = httpx.get(f"{base}/v1/destinations/{dest}/keys/{destination['encryptionKid']}").json()
        plaintext = args.mb * 1_000_000 * 3 // 4
        jwe_path = work / "attachment.jwe"
        encrypt_to_file(jwk, plaintext, jwe_path)
        size = jwe_path.stat().st_size
        disk_rate = disk_copy_rate(jwe_path, work / "copy.bin")

        aid = str(uuid.uuid4())
        ref = httpx.post(
            f"{base}/v1/submissions",
            headers=auth,
            json={
                "destinationId": dest,
                "announcedAttachments": [aid],
                "serviceType": {"name": "Bauantrag", "identifier": LEIKA},
            },
        ).json()
        idle = rss_kib(server.pid)
        peak = idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(server.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.perf_counter()
        with jwe_path.open("rb") as body:
            response = httpx.put(
                f"{base}/v1/submissions/{ref['submissionId']}/attachments/{aid}",
                content=iter(lambda: body.read(1024 * 1024), b""),
                headers={**auth, "Content-Type": "application/jose", "Content-Length": str(size)},
                timeout=600,
            )
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        assert response.status_code == 204, response.text
        upload_rate = size / elapsed / 1e6
        print(f"encrypted attachment        {size / 1e6:8.1f} MB")
        print(f"server RSS before upload    {idle / 1024:8.1f} MiB")
        print(f"server RSS peak (sampled)   {peak / 1024:8.1f} MiB   (limit 150 MiB)")
        print(f"server RSS growth           {(peak - idle) / 1024:8.1f} MiB")
        print(f"upload rate                 {upload_rate:8.1f} MB/s")
        print(f"disk copy + fsync baseline  {disk_rate:8.1f} MB/s")
        print(f"upload / disk baseline      {upload_rate / disk_rate:8.2f}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
