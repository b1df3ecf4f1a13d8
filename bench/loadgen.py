"""The load generator: a lean HTTP/1.1 client over asyncio protocols, built to not be the bottleneck.

Each of ``concurrency`` workers owns one keep-alive connection and sends its requests one after
another. Per request it records the time from the request's write to the first non-empty content
delta (TTFT), the total time to the end of the body, the events received, and whether the content
matches the expected text byte for byte. Until the first content delta every event is parsed as it
arrives (that is the TTFT); after it, bytes are only collected and de-chunked, and the body is read
once at the end, so the per-event cost on the load generator's core stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from .content import expected_text
from .wire import Reader, Wire, event_data, summarise

REQUEST_TIMEOUT = 120.0


@dataclass
class Result:
    """One request as the client saw it. Times in seconds; ``ttft`` is NaN without content."""

    seed: int
    status: int = 0
    ttft: float = math.nan
    total: float = math.nan
    events: int = 0
    content_events: int = 0
    ok: bool = False
    error: str = ""


@dataclass
class Level:
    """One batch of requests at one concurrency: every result and the wall time it took."""

    results: list[Result] = field(default_factory=list)
    wall: float = 0.0

    @property
    def statuses(self) -> set[int]:
        return {r.status for r in self.results}


class ResponseParser:
    """Parses one HTTP/1.1 response fed in pieces: head, then a chunked or sized body."""

    def __init__(self, read: Reader, started: float, done: asyncio.Future[None]) -> None:
        self.read = read
        self.started = started
        self.done = done
        self.buf = bytearray()
        self.body = bytearray()
        self.status = 0
        self.head_done = False
        self.chunked = False
        self.remaining = -1  # body bytes left (sized) or -1 until the connection closes
        self.chunk_left = -1  # >0 data left in the chunk, -1 size line, -2 CRLF, -3 trailers
        self.keep_alive = True
        self.scan = 0
        self.ttft = math.nan

    def feed(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.head_done:
            self._body(data)
        elif not self._head(data):
            return
        if self.status == 200 and self.ttft != self.ttft:  # NaN: no content yet
            self._look_for_content(now)
        if self.ended:
            self.finish()

    @property
    def ended(self) -> bool:
        return self.chunk_left == 0 if self.chunked else self.remaining == 0

    def finish(self, error: str = "") -> None:
        if not self.done.done():
            if error:
                self.done.set_exception(ConnectionError(error))
            else:
                self.done.set_result(None)

    def _head(self, data: bytes) -> bool:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        rest = bytes(self.buf[end + 4 :])
        self.buf.clear()
        self.status = int(lines[0].split(" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self._header(name.strip().lower(), value.strip().lower())
        self.head_done = True
        self._body(rest)
        return True

    def _header(self, name: str, value: str) -> None:
        if name == "transfer-encoding" and "chunked" in value:
            self.chunked = True
        elif name == "content-length":
            self.remaining = int(value)
        elif name == "connection" and value == "close":
            self.keep_alive = False

    def _body(self, data: bytes) -> None:
        if self.chunked:
            self._dechunk(data)
        elif self.remaining < 0:
            self.body += data
        else:
            take = data[: self.remaining]
            self.body += take
            self.remaining -= len(take)

    def _dechunk(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, size = 0, len(buf)
        while pos < size and self.chunk_left != 0:
            if self.chunk_left > 0:
                take = min(self.chunk_left, size - pos)
                self.body += buf[pos : pos + take]
                pos += take
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.chunk_left = -2
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            line, pos = buf[pos:end], end + 2
            if self.chunk_left == -2:
                self.chunk_left = -1
            elif self.chunk_left == -3:
                self.chunk_left = 0 if not line else -3
            else:
                length = int(line.split(b";", 1)[0], 16)
                self.chunk_left = length if length else -3
        del buf[:pos]

    def _look_for_content(self, now: float) -> None:
        body, read = self.body, self.read
        while True:
            end = body.find(b"\n\n", self.scan)
            if end < 0:
                return
            frame = bytes(body[self.scan : end]).replace(b"\r", b"")
            self.scan = end + 2
            data = event_data(frame)
            if data is not None and read(data)[0]:
                self.ttft = now - self.started
                return


class Connection(asyncio.Protocol):
    """One keep-alive client connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: ResponseParser | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.response is not None:
            self.response.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None:
            if response.head_done and not response.chunked and response.remaining < 0:
                response.finish()
            else:
                response.finish("connection closed before the response ended")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, host, port)
    return protocol


def build_request(wire: Wire, host: str, port: int, seed: int, path_prefix: str = "") -> bytes:
    body = wire.body(seed)
    head = [f"POST {path_prefix}{wire.path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in wire.headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def send(conn: Connection, wire: Wire, request: bytes, seed: int, delta_count: int) -> Result:
    """Send one request on an open connection and read its whole answer."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    started = time.perf_counter()
    response = ResponseParser(wire.read, started, done)
    conn.response = response
    assert conn.transport is not None
    conn.transport.write(request)
    result = Result(seed)
    try:
        await asyncio.wait_for(done, REQUEST_TIMEOUT)
    except (ConnectionError, TimeoutError) as exc:
        result.error = str(exc) or type(exc).__name__
        conn.close()
        conn.closed = True
    result.total = time.perf_counter() - started
    conn.response = None
    result.status, result.ttft = response.status, response.ttft
    if not response.keep_alive:
        conn.close()
        conn.closed = True
    _check(result, bytes(response.body), wire, delta_count)
    return result


def _check(result: Result, body: bytes, wire: Wire, delta_count: int) -> None:
    if result.status != 200:
        result.error = result.error or f"HTTP {result.status}: {body[:200].decode(errors='replace')}"
        return
    summary = summarise(body, wire.read)
    result.events, result.content_events = summary.events, summary.content_events
    expected = expected_text(result.seed, delta_count)
    result.ok = summary.terminal and summary.text == expected and not result.error
    if not result.ok and not result.error:
        result.error = "no terminal event" if not summary.terminal else _first_difference(
            summary.text, expected
        )


def _first_difference(got: str, want: str) -> str:
    pairs = enumerate(zip(got, want, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), min(len(got), len(want)))
    return f"content differs at char {at}: got {got[at:at + 20]!r}, want {want[at:at + 20]!r}"


async def _worker(host: str, port: int, wire: Wire, seeds: Iterator[int], delta_count: int,
                  results: list[Result], prefix: str) -> None:
    conn: Connection | None = None
    try:
        for seed in seeds:
            if conn is None or conn.closed:
                conn = await connect(host, port)
            request = build_request(wire, host, port, seed, prefix)
            results.append(await send(conn, wire, request, seed, delta_count))
    finally:
        if conn is not None:
            conn.close()


async def run_level(host: str, port: int, wire: Wire, *, requests: int, concurrency: int,
                    delta_count: int, first_seed: int = 0, prefix: str = "") -> Level:
    """Send ``requests`` requests over ``concurrency`` connections; return every result."""
    seeds = iter(range(first_seed, first_seed + requests))
    level = Level()
    started = time.perf_counter()
    workers = [
        _worker(host, port, wire, seeds, delta_count, level.results, prefix)
        for _ in range(min(concurrency, requests))
    ]
    outcomes = await asyncio.gather(*workers, return_exceptions=True)
    level.wall = time.perf_counter() - started
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            level.results.append(Result(-1, error=f"worker failed: {outcome!r}"))
    return level


async def post_json(host: str, port: int, path: str, body: bytes) -> tuple[int, bytes]:
    """A plain request (control endpoints, health checks): status and body."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        method = "POST" if body else "GET"
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )
        raw = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    if b"chunked" in head.lower():
        rest = _unchunk(rest)
    return status, rest


def _unchunk(raw: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = raw.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(raw[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            break
        out += raw[end + 2 : end + 2 + size]
        pos = end + 4 + size
    return bytes(out)
