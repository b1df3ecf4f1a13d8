"""Our httpx transport for direct upstream connections: HTTP/1.1 (http1.py) or HTTP/2 (http2.py).

Scope: what the Codex backend and its relays need, no more. Direct connections (httpx keeps its
own transport for proxies, including ones from the environment), keep-alive, chunked or sized
bodies, TLS with httpx's certificate settings, the per-request timeouts httpx passes down, and
one retry on a fresh connection when the server provably never processed a request.

With ``http2=True`` a TLS connection offers ALPN ``h2`` too; when the server picks it, the
connection is driven by ``http2.Http2Connection`` instead (many requests share it). Plain http
stays HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import httpx

from cliproxy.config.limits import Limits
from cliproxy.upstream.transport.body import KEEPALIVE_EXPIRY_SECONDS, NotProcessed, PoolKey, Timeouts
from cliproxy.upstream.transport.headers import check_fields, encoded_fields, header_block
from cliproxy.upstream.transport.http1 import Http1Body, Http1Connection
from cliproxy.upstream.transport.slots import HostSlots, OriginFull

if TYPE_CHECKING:  # imported when a server first picks h2: h2 costs nothing until then
    from cliproxy.upstream.transport.http2 import Http2Connection
    from cliproxy.upstream.transport.http2_pool import Http2Pool


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
        head = b"POST " + self.target + b" HTTP/1.1\r\nhost: " + self.host + b"\r\n" + header_block(self.headers)
        return head + b"content-length: %d\r\n\r\n" % len(self.body) + self.body

    def http2(self) -> list[tuple[bytes, bytes]]:
        from cliproxy.upstream.transport.http2_stream import request_fields

        pairs = encoded_fields(self.headers)
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
        """Request line, headers (checked) and body in one buffer."""
        request, body = self.request, self.body
        check_fields(request.headers.raw)
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
        from cliproxy.upstream.transport.http2_stream import request_fields

        request = self.request
        authority = next((value for name, value in request.headers.raw if name.lower() == b"host"),
                         request.url.netloc)
        return request_fields(request.method.encode("ascii"), authority, request.url.raw_path,
                              request.headers.raw)


class _AlpnChoice(asyncio.Protocol):
    """Hands a new TLS connection to the protocol its server picked by ALPN. The switch happens
    in ``connection_made``: the server's first HTTP/2 frames may be read in the same loop turn,
    before ``create_connection`` returns."""

    def __init__(self, key: PoolKey, transport: DirectTransport, on_closed: Callable[[], None]) -> None:
        self.key, self._transport, self._on_closed = key, transport, on_closed
        self.chosen: Http1Connection | Http2Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen: Http1Connection | Http2Connection
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            from cliproxy.upstream.transport.http2 import Http2Connection

            slots, key = self._transport.slots, self.key
            chosen = Http2Connection(key, self._transport.limits, self._on_closed, lambda: slots.changed(key))
        else:
            chosen = Http1Connection(self.key, self._on_closed)
        transport.set_protocol(chosen)
        chosen.connection_made(transport)
        self.chosen = chosen


class DirectTransport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 connections per origin (``max_idle`` idle ones kept in all).

    ``http2``: TLS connections offer ALPN h2 (set on ``ssl_context`` too, as httpx does), and an
    origin whose server picks it is spoken to over shared HTTP/2 connections (``http2.py``).
    ``limits``: what an upstream may send, and how many connections one origin gets (slots.py);
    ``configure`` changes them for the requests that follow."""

    def __init__(self, max_idle: int = 16, ssl_context: ssl.SSLContext | None = None,
                 http2: bool = False, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.slots = HostSlots(self.limits.upstream_connections_per_host)
        self._max_idle = max_idle
        self._http2 = http2
        self._ssl_context = ssl_context
        if ssl_context is not None and http2:
            ssl_context.set_alpn_protocols(["h2", "http/1.1"])
        self._idle: dict[PoolKey, list[Http1Connection]] = {}
        self._idle_count = 0
        self._targets: dict[str, tuple[PoolKey, bytes, bytes]] = {}
        self._shared: Http2Pool | None = None
        self._connecting: dict[PoolKey, asyncio.Future[httpx.TransportError | None]] = {}
        self._h1_origins: set[PoolKey] = set()  # TLS origins whose server picked HTTP/1.1

    def configure(self, limits: Limits) -> None:
        self.limits = limits
        self.slots.limit = limits.upstream_connections_per_host

    def _slot_release(self, key: PoolKey) -> Callable[[], None]:
        """Gives one slot of ``key`` back, once however often it is called (a connection that
        fails as it opens is closed by both its opener and asyncio)."""
        given: list[bool] = []

        def release() -> None:
            if not given:
                given.append(True)
                self.slots.give_back(key)

        return release

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
        connection = await self._acquire(key, timeout, fresh=not retry)
        try:
            if isinstance(connection, Http1Connection):
                return await self._exchange(connection, message, timeout.get("read"))
            return await connection.request(message.http2(), message.body, timeout)
        except httpx.ReadError as exc:
            if not retry or not _unprocessed(connection, exc):
                raise
        return await self._round_trip(key, message, timeout, retry=False)

    async def _exchange(self, connection: Http1Connection, message: _Message,
                        read_timeout: float | None) -> httpx.Response:
        await self._send(connection, message, read_timeout, self.limits)
        return httpx.Response(
            connection.status_code,
            headers=connection.headers,
            stream=Http1Body(connection, self, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
        )

    @staticmethod
    async def _send(connection: Http1Connection, message: _Message, read_timeout: float | None,
                    limits: Limits) -> None:
        """Write the request and wait for the response head; the connection closes on failure."""
        try:
            connection.begin(message.http1(), limits)
            while not connection.head_done:
                await connection.wait(read_timeout)
        except BaseException:
            connection.close()
            raise

    async def _acquire(self, key: PoolKey, timeout: Timeouts,
                       fresh: bool = False) -> Http1Connection | Http2Connection:
        """A connection for one request; while the origin has all its slots open and none of them
        can take the request, wait for a change, up to the pool timeout."""
        deadline: float | None = None
        while True:
            try:
                return await self._connection_for(key, timeout.get("connect"), fresh)
            except OriginFull:
                if deadline is None:
                    pool_timeout = timeout.get("pool")
                    deadline = None if pool_timeout is None else asyncio.get_running_loop().time() + pool_timeout
                await self.slots.wait(key, deadline)

    async def _connection_for(self, key: PoolKey, connect_timeout: float | None,
                              fresh: bool) -> Http1Connection | Http2Connection:
        """A shared HTTP/2 connection where the origin may speak it, else an idle HTTP/1.1 one
        (unless ``fresh``), else a new one (``OriginFull`` when the origin has no slot left)."""
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
                           connect_timeout: float | None) -> Http1Connection | Http2Connection | None:
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
                raise type(error)(str(error)) from error  # the cause names a refused certificate
        return None

    async def _connect_first(self, key: PoolKey, connect_timeout: float | None) -> Http1Connection | Http2Connection:
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
        if isinstance(connection, Http1Connection) or connection.settled.done():
            settle()
        else:
            connection.settled.add_done_callback(lambda _: settle())
        return connection

    async def _connect(self, key: PoolKey, connect_timeout: float | None) -> Http1Connection | Http2Connection:
        """A new connection, holding one of the origin's slots until it closes."""
        self.slots.take(key)
        release = self._slot_release(key)
        try:
            return await self._open(key, connect_timeout, release)
        except BaseException:
            release()
            raise

    async def _open(self, key: PoolKey, connect_timeout: float | None,
                    on_closed: Callable[[], None]) -> Http1Connection | Http2Connection:
        scheme, host, port = key
        tls = self._tls_context() if scheme == "https" else None
        negotiate = tls is not None and self._http2
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _AlpnChoice(key, self, on_closed) if negotiate else Http1Connection(key, on_closed),
                    host, port, ssl=tls, server_hostname=host if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        if isinstance(protocol, _AlpnChoice):
            return self._adopt(key, protocol)
        return protocol

    def _adopt(self, key: PoolKey, choice: _AlpnChoice) -> Http1Connection | Http2Connection:
        """Remember what the server picked: an HTTP/2 connection joins the shared pool."""
        chosen = choice.chosen
        assert chosen is not None  # connection_made ran before create_connection returned
        if isinstance(chosen, Http1Connection):
            self._h1_origins.add(key)
            return chosen
        if self._shared is None:
            from cliproxy.upstream.transport.http2_pool import Http2Pool

            self._shared = Http2Pool()
        self._h1_origins.discard(key)
        self._shared.add(chosen)
        return chosen

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
            self._ssl_context.set_alpn_protocols(["h2", "http/1.1"] if self._http2 else ["http/1.1"])
        return self._ssl_context

    def release(self, connection: Http1Connection) -> None:
        """A finished response: keep its connection for the next request, or close it."""
        if connection.complete and connection.error is None and connection.keep_alive and connection.usable \
                and self._idle_count < self._max_idle:
            connection.idle_since, connection.active = time.monotonic(), False
            self._idle.setdefault(connection.key, []).append(connection)
            self._idle_count += 1
            self.slots.changed(connection.key)
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


def _unprocessed(connection: Http1Connection | Http2Connection, error: httpx.ReadError) -> bool:
    """Whether a failed request provably never reached the server's application."""
    if isinstance(connection, Http1Connection):
        return connection.reused and not connection.got_bytes
    return isinstance(error, NotProcessed)


def _key(url: httpx.URL) -> PoolKey:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port
