"""The HTTP server: uvicorn on httptools with the limits an internet-facing gateway needs.

httptools ignores uvicorn's h11 size limit, and uvicorn has no deadline for headers nor a
minimum upload rate. :class:`FrontDoorProtocol` adds them per connection:

* request line and headers larger than ``http.max_header_bytes``, or more than
  ``http.max_headers`` fields: **431**, connection closed (an unfinished head is counted as it
  arrives, so it cannot grow memory past the limit by much more than one read);
* a head not complete within ``http.header_timeout_seconds``: **408**, connection closed;
* a body arriving slower than ``http.min_body_bytes_per_second`` over a window of
  ``http.body_rate_window_seconds`` (while the gateway is reading): **408** if no answer has
  started, connection closed. The application sees a disconnect and removes what it had stored.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import httptools
import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.api.problems import MEDIA_TYPE, problem_type
from gateway.config.settings import HttpSettings, Settings

log = structlog.get_logger()

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that was answered already."""


class FrontDoorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits, a header deadline and a body rate."""

    def __init__(self, *args: Any, limits: HttpSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_open = False
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._window_bytes = 0

    # bytes in

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        head_was_open = self._head_open
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if not isinstance(exc.__context__, _Refused) and not self.transport.is_closing():
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if head_was_open and self._head_open:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, "request line and headers too large")
        elif not self._head_open:
            self._window_bytes += len(data)

    # parser callbacks

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._head_open:  # a keep-alive connection's next request
            self._await_head()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(431, f"more than {self.limits.max_headers} header fields")
            raise _Refused
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel(self._head_timer)
        super().on_headers_complete()
        if self.limits.min_body_bytes_per_second and self._expects_body():
            self._window_bytes = 0
            self._body_timer = self.loop.call_later(
                self.limits.body_rate_window_seconds, self._check_body_rate
            )

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        super().connection_lost(exc)

    # the limits

    def _await_head(self) -> None:
        self._head_open, self._head_bytes, self._header_count = True, 0, 0
        self._head_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._head_too_slow)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, "request line and headers too large")
            raise _Refused

    def _expects_body(self) -> bool:
        headers = dict(self.headers)
        length = headers.get(b"content-length", b"0")
        return (length.isdigit() and int(length) > 0) or b"transfer-encoding" in headers

    def _head_too_slow(self) -> None:
        if self._head_open:
            self._refuse(408, f"headers not received within {self.limits.header_timeout_seconds:g} s")

    def _check_body_rate(self) -> None:
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or cycle.response_complete or not cycle.more_body:
            return
        window = self.limits.body_rate_window_seconds
        if not self.flow.read_paused and self._window_bytes < self.limits.min_body_bytes_per_second * window:
            started = cycle.response_started
            self._refuse(
                408,
                f"request body slower than {self.limits.min_body_bytes_per_second} bytes/s",
                answer=not started,
            )
            return
        self._window_bytes = 0
        self._body_timer = self.loop.call_later(window, self._check_body_rate)

    def _refuse(self, status: int, detail: str, *, answer: bool = True) -> None:
        """Answer ``status`` as a problem (unless an answer has begun) and close the connection."""
        if self.transport.is_closing():
            return
        log.info("http_refused", status=status, detail=detail, client=self.client and self.client[0])
        if answer:
            slug = "request-header-fields-too-large" if status == 431 else "request-timeout"
            body = json.dumps(
                {
                    "type": problem_type(slug),
                    "title": _REASONS[status].decode(),
                    "status": status,
                    "detail": detail,
                }
            ).encode()
            head = (
                b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                % (status, _REASONS[status], MEDIA_TYPE.encode(), len(body))
            )
            self.transport.write(head + body)
        self._head_open = False
        self.transport.close()

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def server_config(
    app: Any, settings: Settings, *, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` behind the front door."""
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        http=functools.partial(FrontDoorProtocol, limits=settings.http),  # type: ignore[arg-type]
        ws="none",
        log_config=None,
        proxy_headers=False,
        server_header=False,
    )


def serve(app: Any, settings: Settings) -> None:
    """Run ``app`` until SIGINT/SIGTERM."""
    uvicorn.Server(server_config(app, settings)).run()
