"""An httpx transport for direct HTTP/1.1 upstreams: an asyncio protocol and the llhttp parser.

Why not httpcore: the benchmark profile of a streaming proxy put httpcore + h11 + anyio at ~47 %
of the server's CPU. They read the chunked body through about six async-generator layers and a
pure-Python parser per network read, and scan every idle connection with a poll per request.
Here llhttp (``httptools``, in C) parses as the bytes arrive. The body reaches its reader as one
joined chunk per network read, and a pooled connection the server closed removes itself.

Scope: what the Codex backend and its relays need, no more. Direct connections (httpx keeps its
own transport for proxies, including ones from the environment), keep-alive, chunked or sized
bodies, TLS with httpx's certificate settings, the per-request timeouts httpx passes down, and
one retry on a fresh connection when a reused one was closed before it answered.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import cast

import httptools
import httpx

PAUSE_AT_BYTES = 1 << 20  # an unread body this big pauses reading from the socket
KEEPALIVE_EXPIRY_SECONDS = 60.0
PoolKey = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being read on it."""

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.reused = self.active = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.head_done = self.complete = self.got_bytes = self.keep_alive = False
        self.status_code = 0
        self._interim = self._until_close = False
        self.error: httpx.TransportError | None = None
        self._body: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes on an idle connection belong to no request: never reuse it
            self.close()
            return
        self.got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP/1.1 response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
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
            self.keep_alive = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

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

    def begin(self, data: bytes) -> None:
        """Send one request: a new response starts on this connection."""
        assert self.transport is not None
        self._reset()
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
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            raise httpx.ReadTimeout(f"no data from the upstream for {timeout:g} s") from None
        finally:
            self._waiter = None
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error
        self._wake()


class Http1Body(httpx.AsyncByteStream):
    """The response body, one chunk per network read; the connection goes back to the pool at
    the end if the response was read whole and the server keeps it alive."""

    def __init__(self, connection: _Connection, pool: Http1Transport, read_timeout: float | None) -> None:
        self._connection, self._pool, self._timeout = connection, pool, read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            if connection.has_body():
                yield connection.take_body()
            elif connection.complete:
                return
            else:
                await connection.wait(self._timeout)

    async def aclose(self) -> None:
        self._pool.release(self._connection)


def _header_block(headers: Mapping[str, str]) -> bytes:
    """``name: value\\r\\n`` lines. A CR or LF in a value (which could smuggle a header or a
    second request) is refused, as httpx would refuse it."""
    block = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if block.count("\n") != len(headers) or block.count("\r") != len(headers):
        raise httpx.LocalProtocolError("a header value contains a line break")
    try:
        return block.encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError("a header value is not Latin-1 text") from None


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeout.get("connect"), timeout.get("read")


async def _request_bytes(request: httpx.Request) -> bytes:
    """Request line, headers and body in one buffer (bodies here are JSON, already in memory)."""
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        parts += [name, b": ", value, b"\r\n"]
    parts.append(b"\r\n")
    async for piece in request.stream:  # type: ignore[union-attr]
        if chunked and piece:
            parts += [b"%x\r\n" % len(piece), piece, b"\r\n"]
        elif piece:
            parts.append(piece)
    if chunked:
        parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class Http1Transport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 connections per origin; ``max_idle`` idle ones kept in all."""

    def __init__(self, max_idle: int = 16, ssl_context: ssl.SSLContext | None = None) -> None:
        self._max_idle = max_idle
        self._ssl_context = ssl_context
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._idle_count = 0
        self._targets: dict[str, tuple[PoolKey, bytes, bytes]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        connect_timeout, read_timeout = _timeouts(request)
        data = await _request_bytes(request)
        return await self._exchange(_key(request.url), data, connect_timeout, read_timeout)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes,
                   timeout: Mapping[str, float | None]) -> httpx.Response:
        """POST without an ``httpx.Request``: building one (URL parsing, header normalisation)
        cost 31 µs, a sixth of a short stream's fixed CPU. For the proxy's own requests, whose
        headers it built; ``timeout`` is an ``httpx.Timeout.as_dict()``."""
        key, target, host = self._target(url)
        head = b"POST " + target + b" HTTP/1.1\r\nhost: " + host + b"\r\n" + _header_block(headers)
        data = head + b"content-length: %d\r\n\r\n" % len(body) + body
        return await self._exchange(key, data, timeout.get("connect"), timeout.get("read"))

    def _target(self, url: str) -> tuple[PoolKey, bytes, bytes]:
        """``(pool key, request target, Host value)`` of a URL, parsed once per URL."""
        found = self._targets.get(url)
        if found is None:
            if len(self._targets) >= 256:
                self._targets.clear()
            parsed = httpx.URL(url)
            found = self._targets[url] = (_key(parsed), parsed.raw_path, parsed.netloc)
        return found

    async def _exchange(self, key: PoolKey, data: bytes, connect_timeout: float | None,
                        read_timeout: float | None) -> httpx.Response:
        """Send ``data`` on a pooled connection and return once the response head is in."""
        connection = await self._acquire(key, connect_timeout)
        try:
            await self._send(connection, data, read_timeout)
        except httpx.ReadError:
            if not connection.reused or connection.got_bytes:
                raise
            # A kept-alive connection the server closed as we reused it: try once on a new one.
            connection = await self._connect(key, connect_timeout)
            await self._send(connection, data, read_timeout)
        return httpx.Response(
            connection.status_code,
            headers=connection.headers,
            stream=Http1Body(connection, self, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
        )

    @staticmethod
    async def _send(connection: _Connection, data: bytes, read_timeout: float | None) -> None:
        """Write the request and wait for the response head; the connection closes on failure."""
        try:
            connection.begin(data)
            while not connection.head_done:
                await connection.wait(read_timeout)
        except BaseException:
            connection.close()
            raise

    async def _acquire(self, key: PoolKey, connect_timeout: float | None) -> _Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable and now - connection.idle_since < KEEPALIVE_EXPIRY_SECONDS:
                connection.reused = True
                return connection
            connection.close()
        return await self._connect(key, connect_timeout)

    async def _connect(self, key: PoolKey, connect_timeout: float | None) -> _Connection:
        scheme, host, port = key
        tls = self._tls_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(key), host, port, ssl=tls, server_hostname=host if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context

    def release(self, connection: _Connection) -> None:
        """A finished response: keep its connection for the next request, or close it."""
        if connection.complete and connection.error is None and connection.keep_alive and connection.usable \
                and self._idle_count < self._max_idle:
            connection.idle_since, connection.active = time.monotonic(), False
            self._idle.setdefault(connection.key, []).append(connection)
            self._idle_count += 1
        else:
            connection.close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._idle_count = 0


def _key(url: httpx.URL) -> PoolKey:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port

