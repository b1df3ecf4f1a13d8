"""One client connection: uvicorn's httptools protocol, with the request head bounded in size, count
and time.

uvicorn bounds none of these under httptools (h11 has ``h11_max_incomplete_event_size``; httptools
has nothing): a client could send an endless head, thousands of headers, or one header byte a
second, and be held open and buffered forever, all before the gate checks its key. This subclass
counts what arrives while a head is being read and gives up at ``limits.request-head-bytes``,
``limits.request-header-count`` and ``limits.request-head-seconds``; an idle keep-alive connection
closes after ``limits.client-idle-seconds``, and one whose answer went out before its request body
ended is closed rather than drained. A refusal is a 431 in the dialect of the path asked
for, written straight to the socket (no route ever ran), then the connection closes.

The cost per request is one timer armed and cancelled and a few attribute checks; the limits are
read once per connection, so a reload applies to connections opened after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cliproxy.config.limits import Limits
from cliproxy.errors import ProxyError
from cliproxy.server.errors import BODY_BY_FAMILY, family_for_path

log = logging.getLogger(__name__)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses an oversized or endless request head."""

    current_limits: Callable[[], Limits] = Limits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = type(self).current_limits()
        self.timeout_keep_alive = limits.client_idle_seconds  # type: ignore[assignment]
        self._head_limit, self._header_limit = limits.request_head_bytes, limits.request_header_count
        self._head_seconds = limits.request_head_seconds
        self._head_bytes = 0
        self._reading_head = self._refused = False
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(self._head_seconds, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading_head and not self._refused:
            self._head_bytes += len(data)
            if self._head_bytes > self._head_limit:
                self._refuse("head", "request-head-bytes", f"{self._head_limit} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head, self._head_bytes = True, 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_seconds, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_timer()
        if self._refused:
            return
        if len(self.headers) > self._header_limit:
            self._refuse("header count", "request-header-count", f"{self._header_limit} header lines")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        """An answer sent before its request body ended (a 413, a refused key) closes the connection.

        uvicorn would read and discard the rest of the body to keep the connection alive, so a client
        refused at 256 MiB could go on sending gigabytes; h11, which uvicorn also ships, closes instead.
        """
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            self.transport.close()
        super().on_response_complete()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        """A connection that has not sent a whole head in time: closed (a slowloris client, or an
        idle one that never sent a request)."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._reading_head:
            log.warning("closed a connection from %s: its request head took over %g s (raise "
                        "`limits.request-head-seconds` to allow it)", _peer(self.client), self._head_seconds)
        self.transport.close()

    def _refuse(self, what: str, key: str, limit: str) -> None:
        """A 431 in the dialect of the path the client asked for, then close."""
        self._refused, self._reading_head = True, False
        self._stop_head_timer()
        log.warning("refused a request from %s: its %s is over %s (raise `limits.%s` to allow it)",
                    _peer(self.client), what, limit, key)
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        error = ProxyError(431, f"Request header fields too large: this server accepts at most {limit}.",
                           code="request_header_fields_too_large", type="invalid_request_error")
        self.transport.write(_raw_response(431, orjson.dumps(BODY_BY_FAMILY[family_for_path(path)](error))))
        self.transport.close()


def _raw_response(status: int, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


def _peer(client: tuple[str, int] | None) -> str:
    return client[0] if client else "an unknown address"


def bounded_protocol(limits: Callable[[], Limits]) -> type[BoundedHttpToolsProtocol]:
    """The protocol class to hand uvicorn (``http=``), reading the running snapshot's limits."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"current_limits": staticmethod(limits)})


__all__ = ["BoundedHttpToolsProtocol", "bounded_protocol"]
