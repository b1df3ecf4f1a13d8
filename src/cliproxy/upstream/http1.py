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

With ``http2=True`` a TLS connection offers ALPN ``h2`` too; when the server picks it, the
connection is driven by ``http2.Http2Connection`` instead (many requests share it). Plain http
stays HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Protocol, cast

import httptools
import httpx

if TYPE_CHECKING:  # imported when a server first picks h2: h2 costs nothing until then
    from .http2 import Http2Connection, Http2Pool

PAUSE_AT_BYTES = 1 << 20  # an unread body this big pauses reading from the socket
KEEPALIVE_EXPIRY_SECONDS = 60.0
PoolKey = tuple[str, str, int]
Timeouts = Mapping[str, float | None]  # httpx.Timeout.as_dict(): connect, read, write, pool


class NotProcessed(httpx.ReadError):
    """The server provably did not process the request (HTTP/2: GOAWAY above its stream,
    REFUSED_STREAM, or an idle connection closed as it went out): safe to send once more."""


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


class _BodySource(Protocol):
    """What a body is read from: an HTTP/1.1 connection, or one HTTP/2 stream."""

    complete: bool

    def has_body(self) -> bool: ...

    def take_body(self) -> bytes: ...

    async def wait(self, timeout: float | None) -> None: ...


class DirectBody(httpx.AsyncByteStream):
    """A response body from this transport, HTTP/1.1 or HTTP/2: one joined chunk per network read.
    Callers may iterate it as is: there is no decoding layer between it and the network."""

    def __init__(self, source: _BodySource, read_timeout: float | None) -> None:
        self._source, self._timeout = source, read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        source = self._source
        while True:
            if source.has_body():
                yield source.take_body()
            elif source.complete:
                return
            else:
                await source.wait(self._timeout)


class Http1Body(DirectBody):
    """The response body; the connection goes back to the pool at the end if the response was
    read whole and the server keeps it alive."""

    def __init__(self, connection: _Connection, pool: Http1Transport, read_timeout: float | None) -> None:
        super().__init__(connection, read_timeout)
        self._connection, self._pool = connection, pool

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


class _Message(Protocol):
    """One request, written out once its connection's protocol is known."""

    body: bytes

    def http1(self) -> bytes: ...

    def http2(self) -> list[tuple[bytes, bytes]]: ...


class _Post:
    """The proxy's own POST (``post()``): headers it built, a body in memory."""

    __slots__ = ("body", "headers", "host", "target")

    def __init__(self, target: bytes, host: bytes, headers: Mapping[str, str], body: bytes) -> None:
        self.target, self.host, self.headers, self.body = target, host, headers, body

    def http1(self) -> bytes:
        head = b"POST " + self.target + b" HTTP/1.1\r\nhost: " + self.host + b"\r\n" + _header_block(self.headers)
        return head + b"content-length: %d\r\n\r\n" % len(self.body) + self.body

    def http2(self) -> list[tuple[bytes, bytes]]:
        from .http2 import request_fields

        try:
            pairs = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        except UnicodeEncodeError:
            raise httpx.LocalProtocolError("a header value is not Latin-1 text") from None
        pairs.append((b"content-length", b"%d" % len(self.body)))
        return request_fields(b"POST", self.host, self.target, pairs)


class _Sent:
    """A request from httpx's client (``handle_async_request``), its body read into memory
    (bodies here are JSON, already in memory)."""

    __slots__ = ("body", "request")

    def __init__(self, request: httpx.Request, body: bytes) -> None:
        self.request, self.body = request, body

    @classmethod
    async def read(cls, request: httpx.Request) -> _Sent:
        pieces = [piece async for piece in request.stream]  # type: ignore[union-attr]
        return cls(request, b"".join(pieces))

    def http1(self) -> bytes:
        """Request line, headers and body in one buffer."""
        request, body = self.request, self.body
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            parts += [name, b": ", value, b"\r\n"]
        parts.append(b"\r\n")
        if chunked:
            parts += [b"%x\r\n" % len(body), body, b"\r\n0\r\n\r\n"] if body else [b"0\r\n\r\n"]
        else:
            parts.append(body)
        return b"".join(parts)

    def http2(self) -> list[tuple[bytes, bytes]]:
        from .http2 import request_fields

        request = self.request
        authority = next((value for name, value in request.headers.raw if name.lower() == b"host"),
                         request.url.netloc)
        return request_fields(request.method.encode("ascii"), authority, request.url.raw_path,
                              request.headers.raw)


class _AlpnChoice(asyncio.Protocol):
    """Hands a new TLS connection to the protocol its server picked by ALPN. The switch happens
    in ``connection_made``: the server's first HTTP/2 frames may be read in the same loop turn,
    before ``create_connection`` returns."""

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.chosen: _Connection | Http2Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen: _Connection | Http2Connection
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            from .http2 import Http2Connection

            chosen = Http2Connection(self.key)
        else:
            chosen = _Connection(self.key)
        transport.set_protocol(chosen)
        chosen.connection_made(transport)
        self.chosen = chosen


class Http1Transport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 connections per origin; ``max_idle`` idle ones kept in all.

    ``http2``: TLS connections offer ALPN h2 (set on ``ssl_context`` too, as httpx does), and an
    origin whose server picks it is spoken to over shared HTTP/2 connections (``http2.py``)."""

    def __init__(self, max_idle: int = 16, ssl_context: ssl.SSLContext | None = None,
                 http2: bool = False) -> None:
        self._max_idle = max_idle
        self._http2 = http2
        self._ssl_context = ssl_context
        if ssl_context is not None and http2:
            ssl_context.set_alpn_protocols(["h2", "http/1.1"])
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._idle_count = 0
        self._targets: dict[str, tuple[PoolKey, bytes, bytes]] = {}
        self._shared: Http2Pool | None = None
        self._connecting: dict[PoolKey, asyncio.Future[httpx.TransportError | None]] = {}
        self._h1_origins: set[PoolKey] = set()  # TLS origins whose server picked HTTP/1.1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        message = await _Sent.read(request)
        return await self._round_trip(_key(request.url), message, request.extensions.get("timeout", {}))

    async def post(self, url: str, headers: Mapping[str, str], body: bytes,
                   timeout: Timeouts) -> httpx.Response:
        """POST without an ``httpx.Request``: building one (URL parsing, header normalisation)
        cost 31 µs, a sixth of a short stream's fixed CPU. For the proxy's own requests, whose
        headers it built; ``timeout`` is an ``httpx.Timeout.as_dict()``."""
        key, target, host = self._target(url)
        return await self._round_trip(key, _Post(target, host, headers, body), timeout)

    def _target(self, url: str) -> tuple[PoolKey, bytes, bytes]:
        """``(pool key, request target, Host value)`` of a URL, parsed once per URL."""
        found = self._targets.get(url)
        if found is None:
            if len(self._targets) >= 256:
                self._targets.clear()
            parsed = httpx.URL(url)
            found = self._targets[url] = (_key(parsed), parsed.raw_path, parsed.netloc)
        return found

    async def _round_trip(self, key: PoolKey, message: _Message, timeout: Timeouts,
                          retry: bool = True) -> httpx.Response:
        """Send ``message`` and return once the response head is in. A request the server provably
        never processed (a reused HTTP/1.1 connection closed before a byte of answer, HTTP/2's
        ``NotProcessed``) goes once more, on a fresh connection."""
        connection = await self._acquire(key, timeout.get("connect"), fresh=not retry)
        try:
            if isinstance(connection, _Connection):
                return await self._exchange(connection, message, timeout.get("read"))
            return await connection.request(message.http2(), message.body, timeout)
        except httpx.ReadError as exc:
            if not retry or not _unprocessed(connection, exc):
                raise
        return await self._round_trip(key, message, timeout, retry=False)

    async def _exchange(self, connection: _Connection, message: _Message,
                        read_timeout: float | None) -> httpx.Response:
        await self._send(connection, message, read_timeout)
        return httpx.Response(
            connection.status_code,
            headers=connection.headers,
            stream=Http1Body(connection, self, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
        )

    @staticmethod
    async def _send(connection: _Connection, message: _Message, read_timeout: float | None) -> None:
        """Write the request and wait for the response head; the connection closes on failure."""
        try:
            connection.begin(message.http1())
            while not connection.head_done:
                await connection.wait(read_timeout)
        except BaseException:
            connection.close()
            raise

    async def _acquire(self, key: PoolKey, connect_timeout: float | None,
                       fresh: bool = False) -> _Connection | Http2Connection:
        """A connection for one request: a shared HTTP/2 one where the origin may speak it, else
        an idle HTTP/1.1 one (unless ``fresh``), else a new one."""
        if self._http2 and key[0] == "https" and key not in self._h1_origins:
            shared = await self._multiplexed(key, connect_timeout)
            if shared is not None:
                return shared
        idle = None if fresh else self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable and now - connection.idle_since < KEEPALIVE_EXPIRY_SECONDS:
                connection.reused = True
                return connection
            connection.close()
        return await self._connect(key, connect_timeout)

    async def _multiplexed(self, key: PoolKey,
                           connect_timeout: float | None) -> _Connection | Http2Connection | None:
        """An HTTP/2 connection with a free stream. Requests that find none while one is being
        opened wait for it rather than each open their own; the opener gets a new HTTP/1.1
        connection if the server picked that, and ``None`` means: the origin speaks HTTP/1.1."""
        while key not in self._h1_origins:
            found = self._shared.pick(key) if self._shared is not None else None
            if found is not None:
                return found
            pending = self._connecting.get(key)
            if pending is None:
                return await self._connect_first(key, connect_timeout)
            try:
                async with asyncio.timeout(connect_timeout):
                    error = await asyncio.shield(pending)
            except TimeoutError:
                raise httpx.ConnectTimeout(f"connecting to {key[1]}:{key[2]} timed out") from None
            if error is not None:
                raise type(error)(str(error))
        return None

    async def _connect_first(self, key: PoolKey, connect_timeout: float | None) -> _Connection | Http2Connection:
        """Open the connection others wait for. They go on once its server's SETTINGS say how many
        streams it takes (the opener's own request goes at once: one stream always fits), or
        with the error that failed it."""
        pending = self._connecting[key] = asyncio.get_running_loop().create_future()

        def settle(error: httpx.TransportError | None = None) -> None:
            del self._connecting[key]
            pending.set_result(error)

        try:
            connection = await self._connect(key, connect_timeout)
        except httpx.TransportError as exc:
            settle(exc)
            raise
        except BaseException:
            settle()
            raise
        if isinstance(connection, _Connection) or connection.settled.done():
            settle()
        else:
            connection.settled.add_done_callback(lambda _: settle())
        return connection

    async def _connect(self, key: PoolKey, connect_timeout: float | None) -> _Connection | Http2Connection:
        scheme, host, port = key
        tls = self._tls_context() if scheme == "https" else None
        negotiate = tls is not None and self._http2
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _AlpnChoice(key) if negotiate else _Connection(key),
                    host, port, ssl=tls, server_hostname=host if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        if isinstance(protocol, _AlpnChoice):
            return self._adopt(key, protocol)
        return protocol

    def _adopt(self, key: PoolKey, choice: _AlpnChoice) -> _Connection | Http2Connection:
        """Remember what the server picked: an HTTP/2 connection joins the shared pool."""
        chosen = choice.chosen
        assert chosen is not None  # connection_made ran before create_connection returned
        if isinstance(chosen, _Connection):
            self._h1_origins.add(key)
            return chosen
        if self._shared is None:
            from .http2 import Http2Pool

            self._shared = Http2Pool()
        self._h1_origins.discard(key)
        self._shared.add(chosen)
        return chosen

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
            self._ssl_context.set_alpn_protocols(["h2", "http/1.1"] if self._http2 else ["http/1.1"])
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
        if self._shared is not None:
            self._shared.close()


def _unprocessed(connection: _Connection | Http2Connection, error: httpx.ReadError) -> bool:
    """Whether a failed request provably never reached the server's application."""
    if isinstance(connection, _Connection):
        return connection.reused and not connection.got_bytes
    return isinstance(error, NotProcessed)


def _key(url: httpx.URL) -> PoolKey:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port

