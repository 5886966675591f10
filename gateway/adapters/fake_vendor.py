"""A fake vendor REST endpoint on 127.0.0.1, in a thread, for testing HTTP adapters.

:class:`FakeVendor` behaves like a well-written Fachverfahren API: it verifies
``callback-authentication`` when it knows the ``secret`` (401 if wrong), requires
``Idempotency-Key`` (400 if missing), and answers a repeated key with the stored first answer
instead of a second effect (``effects`` counts them per key). By default a POST succeeds with 201
and a reference ``DMS-00001``…; :meth:`~FakeVendor.fail`, :meth:`~FakeVendor.hang` and
:meth:`~FakeVendor.script` queue other answers for the next POSTs. Bodies are spooled to files,
so the server holds no large body in memory. The pytest plugin's ``xgw_vendor`` fixture starts
one per test::

    async def test_retried_after_a_503(xgw_vendor: FakeVendor) -> None:
        xgw_vendor.fail(503, retry_after=1)
        ...  # deliver to xgw_vendor.url
        assert [r.status for r in xgw_vendor.posts()] == [503, 201]
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Answer", "FakeVendor", "Recorded", "parse_multipart", "received_files"]


@dataclass
class Answer:
    """One answer of the endpoint; ``delay`` seconds pass before it is sent (a hang)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


@dataclass
class Recorded:
    """One request the endpoint received; ``signature_ok`` is ``None`` without a ``secret``."""

    method: str
    headers: dict[str, str]
    body_path: Path | None
    signature_ok: bool | None
    status: int = 0

    def body(self) -> bytes:
        """The request body as received."""
        return self.body_path.read_bytes() if self.body_path else b""


class FakeVendor:
    """The endpoint, listening on a free port of 127.0.0.1 from :meth:`start` to :meth:`stop`;
    POST to :attr:`url`. Request bodies go to files in ``spool``."""

    def __init__(self, spool: Path, secret: str | None = None) -> None:
        self.spool = spool
        self.secret = secret
        self.requests: list[Recorded] = []
        self.effects: collections.Counter[str] = collections.Counter()
        self.stored: dict[str, Answer] = {}
        self.scripted: collections.deque[Answer] = collections.deque()
        self.options_answer = Answer(204)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"vendor": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/submissions"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeVendor:
        """Serve in a daemon thread; returns ``self``."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a hanging answer is abandoned."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def script(self, *answers: Answer) -> None:
        """Answer the next POSTs (with a new idempotency key) with ``answers``, in order."""
        self.scripted.extend(answers)

    def fail(
        self, status: int, *, times: int = 1, retry_after: float | None = None, body: bytes = b""
    ) -> None:
        """Answer the next ``times`` POSTs with ``status`` (and ``Retry-After`` if given)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        self.script(*(Answer(status, headers, body) for _ in range(times)))

    def hang(self, seconds: float, *, times: int = 1) -> None:
        """Keep the next ``times`` POSTs waiting ``seconds`` before a 503."""
        self.script(*(Answer(503, delay=seconds) for _ in range(times)))

    def posts(self) -> list[Recorded]:
        """The POST requests received so far."""
        return [r for r in self.requests if r.method == "POST"]

    def answer_for(self, key: str) -> Answer:
        """The stored answer for ``key``, else the next scripted one, else a new 201."""
        with self.lock:
            if key in self.stored:
                return self.stored[key]
            answer = self.scripted.popleft() if self.scripted else None
            if answer is None:
                reference = f"DMS-{len(self.stored) + 1:05d}"
                answer = Answer(
                    201,
                    {"Content-Type": "application/json", "Location": f"/records/{reference}"},
                    json.dumps({"reference": reference}).encode(),
                )
            if 200 <= answer.status < 300:
                self.stored[key] = answer
                self.effects[key] += 1
            return answer


class _Handler(BaseHTTPRequestHandler):
    vendor: FakeVendor

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence
        pass

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.vendor.requests.append(Recorded("OPTIONS", dict(self.headers), None, self._verify(b"")))
        self._send(self.vendor.options_answer)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        mac = None
        if self.vendor.secret is not None:
            mac = hmac.new(
                self.vendor.secret.encode(),
                self.headers.get("callback-timestamp", "").encode() + b".",
                hashlib.sha512,
            )
        with tempfile.NamedTemporaryFile(dir=self.vendor.spool, delete=False) as spool:
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(remaining, 64 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)
                spool.write(chunk)
                if mac is not None:
                    mac.update(chunk)
        signature_ok = (
            None
            if mac is None
            else hmac.compare_digest(mac.hexdigest(), self.headers.get("callback-authentication", ""))
        )
        record = Recorded("POST", dict(self.headers), Path(spool.name), signature_ok)
        self.vendor.requests.append(record)
        key = self.headers.get("Idempotency-Key")
        if signature_ok is False:
            answer = Answer(401, body=b"bad signature")
        elif not key:
            answer = Answer(400, body=b"Idempotency-Key missing")
        else:
            answer = self.vendor.answer_for(key)
        record.status = answer.status
        if answer.delay and self.vendor.stopping.wait(answer.delay):
            return
        self._send(answer)

    def _verify(self, body: bytes) -> bool | None:
        if self.vendor.secret is None:
            return None
        timestamp = self.headers.get("callback-timestamp", "")
        expected = hmac.new(
            self.vendor.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha512
        ).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("callback-authentication", ""))

    def _send(self, answer: Answer) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            pass


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """``(part headers, content)`` of each part of a ``multipart/form-data`` body."""
    match = re.search(r"boundary=([^;]+)", content_type)
    assert match, content_type
    delimiter = b"--" + match.group(1).encode()
    assert body.endswith(delimiter + b"--\r\n")
    parts = []
    for raw in body.split(delimiter)[1:-1]:
        assert raw.startswith(b"\r\n") and raw.endswith(b"\r\n")
        head, _, content = raw[2:-2].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(": ")
            headers[name.lower()] = value
        parts.append((headers, content))
    return parts


def received_files(record: Recorded) -> dict[str, bytes]:
    """What a vendor would store: ``data`` and ``attachments/<filename>`` → content."""
    content_type = record.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        document = json.loads(record.body())
        files = {
            "data": document["data"].encode()
            if document["dataEncoding"] == "utf-8"
            else base64.b64decode(document["data"])
        }
        for attachment in document["attachments"]:
            files[f"attachments/{attachment['filename']}"] = base64.b64decode(attachment["content"])
        return files
    files = {}
    for headers, content in parse_multipart(content_type, record.body()):
        disposition = headers["content-disposition"]
        filename = re.search(r'filename="([^"]*)"', disposition)
        name = re.search(r'name="([^"]*)"', disposition)
        assert name
        files[f"{name.group(1)}/{filename.group(1)}" if filename else name.group(1)] = content
    return files
