"""HTTP/1.1 for our upstream transport: an asyncio protocol and the llhttp parser.

Why not httpcore: the benchmark profile of a streaming proxy put httpcore + h11 + anyio at ~47 %
of the server's CPU. They read the chunked body through about six async-generator layers and a
pure-Python parser per network read, and scan every idle connection with a poll per request.
Here llhttp (``httptools``, in C) parses as the bytes arrive. The body reaches its reader as one
joined chunk per network read, and a pooled connection the server closed removes itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

import httptools
import httpx

from cliproxy.config.limits import Limits
from cliproxy.upstream.transport.body import DirectBody, PoolKey, limit_exceeded
from cliproxy.upstream.transport.wakeup import Wakeup

PAUSE_AT_BYTES = 1 << 20  # an unread body this big pauses reading from the socket
DEFAULT_LIMITS = Limits()


class _Stop(Exception):
    """Raised from a parser callback to stop llhttp at once (a limit hit, bytes after the end)."""


class _Pool(Protocol):
    """Where a finished connection goes back (the transport's idle pool)."""

    def release(self, connection: Http1Connection) -> None: ...


class Http1Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being read on it.

    The response head is bounded as h11 bounds it (``limits.upstream-head-bytes`` and
    ``upstream-header-count``), checked after each network read so that a huge head fails at the
    first read past the limit, and bytes after the end of a response are never read as part of
    it: they make the connection unusable. ``on_closed`` runs once, when the connection closes."""

    def __init__(self, key: PoolKey, on_closed: Callable[[], None] | None = None) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.reused = self.active = False
        self.idle_since = 0.0
        self.on_closed = on_closed
        self._parser = httptools.HttpResponseParser(self)
        self._limits = DEFAULT_LIMITS
        self._reset()

    def _reset(self) -> None:
        self._head_size = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.head_done = self.complete = self.got_bytes = self.keep_alive = False
        self.status_code = 0
        self._interim = self._until_close = False
        self.error: httpx.TransportError | None = None
        self._body: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._wakeup = Wakeup()

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:  # bytes that belong to no request: never reuse it
            self.keep_alive = False
            self.close()
            return
        self.got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.complete:  # bytes after the end of the response: not part of it
                self.keep_alive = False
            else:
                self._fail(httpx.RemoteProtocolError(f"invalid HTTP/1.1 response: {exc}"))
            self.close()
            return
        if not self.head_done:
            self._head_size += len(data)
            if self._head_size > self._limits.upstream_head_bytes:
                self._fail(limit_exceeded("HTTP/1.1 response head bytes", self._limits.upstream_head_bytes,
                                          "upstream-head-bytes"))
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._closed()
        if self.complete:
            return
        if self.head_done and self._until_close and exc is None:  # the close ends such a body
            self.complete, self.keep_alive = True, False
            self._wake()
        else:
            self._fail(httpx.ReadError("the upstream closed the connection"))

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second response to one request: the connection cannot be trusted again
            raise _Stop

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if len(self.headers) > self._limits.upstream_header_count:
            self._fail(limit_exceeded("HTTP/1.1 response header lines", self._limits.upstream_header_count,
                                      "upstream-header-count"))
            raise _Stop

    def on_headers_complete(self) -> None:
        status = int(self._parser.get_status_code())
        if 100 <= status < 200 and status != 101:  # an interim head (100 Continue): the real one follows
            self._interim, self.headers, self.reason = True, [], b""
            return
        self.status_code, self.head_done = status, True
        self.keep_alive = bool(self._parser.should_keep_alive())  # llhttp forgets it once done
        self._until_close = status not in (204, 304) and not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > PAUSE_AT_BYTES and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()

    # --- used by the transport and the body stream ------------------------------------------

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def begin(self, data: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
        """Send one request: a new response starts on this connection, read within ``limits``."""
        assert self.transport is not None
        self._reset()
        self._limits = limits
        self.active = True
        self.transport.write(data)

    def take_body(self) -> bytes:
        """The body bytes read so far, joined; reading resumes if it was paused."""
        chunks, self._body, self._buffered = self._body, [], 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def has_body(self) -> bool:
        return bool(self._body)

    async def wait(self, timeout: float | None) -> None:
        """Until the parser has something new; ``httpx.ReadTimeout`` after ``timeout`` seconds."""
        if self.error is not None:
            raise self.error
        if not await self._wakeup.wait(timeout):
            raise httpx.ReadTimeout(f"no data from the upstream for {timeout:g} s")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._closed()

    def _closed(self) -> None:
        on_closed, self.on_closed = self.on_closed, None
        if on_closed is not None:
            on_closed()

    def _wake(self) -> None:
        self._wakeup.wake()

    def _fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error
        self._wake()


class Http1Body(DirectBody):
    """The response body; the connection goes back to the pool at the end if the response was
    read whole and the server keeps it alive."""

    def __init__(self, connection: Http1Connection, pool: _Pool, read_timeout: float | None) -> None:
        super().__init__(connection, read_timeout)
        self._connection, self._pool = connection, pool

    async def aclose(self) -> None:
        self._pool.release(self._connection)
