"""A raw asyncio HTTP/1.1 server scripted byte by byte, for transport tests.

Why not a real server: transport tests need to close a connection at an exact moment, send
malformed or partial bytes, and count accepted connections; an ASGI server hides all of that.
Each accepted connection runs the test's ``handler`` coroutine with a ``RawConnection``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class RawRequest:
    """One request as the server read it; ``raw`` is every byte of it as it came on the wire."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    raw: bytes
    connection: int  # 1-based index of the connection it came on


class RawConnection:
    """One accepted connection: read requests, write exact bytes, close when the script says."""

    def __init__(self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 index: int) -> None:
        self.server, self.index = server, index
        self._reader, self._writer = reader, writer

    async def read_request(self) -> RawRequest | None:
        """The next request, or ``None`` when the client closed the connection first."""
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = {name.strip().lower(): value.strip()
                   for name, value in (line.split(":", 1) for line in lines)}
        raw_body, body = await self._read_body(headers)
        request = RawRequest(method, target, version, headers, body, head + raw_body, self.index)
        self.server.requests.append(request)
        return request

    async def _read_body(self, headers: dict[str, str]) -> tuple[bytes, bytes]:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw, body = bytearray(), bytearray()
            while True:
                size_line = await self._reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                chunk = await self._reader.readexactly(size + 2)
                raw += size_line + chunk
                body += chunk[:-2]
                if size == 0:
                    return bytes(raw), bytes(body)
        data = await self._reader.readexactly(int(headers.get("content-length", "0")))
        return data, data

    async def at_eof(self, timeout: float = 2.0) -> bool:
        """Whether the client closes its side within ``timeout`` seconds (sends nothing more)."""
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


Handler = Callable[[RawConnection], Awaitable[None]]


@dataclass
class RawServer:
    """``async with RawServer(handler) as server``: listens on 127.0.0.1, ``server.url`` is its base."""

    handler: Handler
    connections: int = 0
    requests: list[RawRequest] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = RawConnection(self, reader, writer, self.connections)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(connection)
        except asyncio.CancelledError:
            pass  # the server stopping a handler that waits forever: a cancelled task here gets logged
        finally:
            self._tasks.discard(task)
            writer.close()


def response(body: bytes = b"", *, status: str = "200 OK", chunked: bool = False, version: str = "HTTP/1.1",
             headers: tuple[str, ...] = ()) -> bytes:
    """A whole response: sized by Content-Length, or chunked (one chunk per 64 KiB)."""
    head = [f"{version} {status}", "Content-Type: application/octet-stream", *headers]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        return "\r\n".join(head).encode() + b"\r\n\r\n" + framed
    head.append(f"Content-Length: {len(body)}")
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


async def answer_all(connection: RawConnection, body: bytes = b"ok", *, chunked: bool = False) -> None:
    """Keep-alive handler: answer every request on the connection until the client closes it."""
    while await connection.read_request() is not None:
        await connection.send(response(body, chunked=chunked))
