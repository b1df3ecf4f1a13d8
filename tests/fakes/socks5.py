"""A SOCKS5 proxy on loopback: no authentication, CONNECT only, recording where each tunnel went.

Enough of RFC 1928 for httpx's ``socks5://`` client (socksio) to tunnel through it, so a test can
prove that a request left through the proxy and not from the direct IP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from types import TracebackType

SUCCEEDED = b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"
REFUSED = b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"


class Socks5Proxy:
    """``async with Socks5Proxy() as proxy``: ``proxy.url`` to use, ``proxy.targets`` reached."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []  # both ends of every tunnel, closed at the end

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"socks5://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Socks5Proxy:
        self._server = await asyncio.start_server(self._tunnel, "127.0.0.1", 0)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            target = await self._handshake(reader, writer)
            up_reader, up_writer = await asyncio.open_connection(*target)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.write(REFUSED)
            writer.close()
            return
        self._writers.append(up_writer)
        writer.write(SUCCEEDED)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            raise ValueError("no acceptable method")
        writer.write(b"\x05\x00")
        version, command, _, kind = await reader.readexactly(4)
        if version != 5 or command != 1:
            raise ValueError("CONNECT only")
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            raise ValueError("IPv4 or a name only")
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.targets.append((host, port))
        return host, port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
