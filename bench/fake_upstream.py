"""A fake Codex backend built for speed: raw asyncio, HTTP/1.1 keep-alive, one write per event.

``POST <any prefix>/responses`` answers the Codex SSE stream of ``codex_stream`` for the variant
named by the ``bench-seed:<n>`` in the request body. The pacing profile (delta count, delay before
the first event, delay before each delta) is set for the whole server through
``POST /_bench/profile``, so one fake serves every target and every profile of a run.
``GET /_bench/stats`` counts what was served, to cross-check the load generator.

Run alone: ``python -m bench.fake_upstream --port 0`` prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import sys
import zlib
from dataclasses import asdict, dataclass

import orjson

from .codex_stream import chunked_frames
from .content import VARIANTS, parse_seed

# Events before the first delta (rate_limits, created, in_progress, item added, part added).
_PREAMBLE = 5
# Events after the last delta (text done, part done, item done, completed).
_CLOSING = 4
_HIGH_WATER = 256 * 1024
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n"
    b"x-codex-plan-type: plus\r\n"
    b"x-codex-primary-used-percent: 12.5\r\n"
    b"x-codex-primary-window-minutes: 300\r\n"
    b"x-codex-secondary-used-percent: 40\r\n"
    b"x-codex-secondary-window-minutes: 10080\r\n"
    b"\r\n"
)
_END = b"0\r\n\r\n"


@dataclass
class Profile:
    """How the fake paces a stream. Delays are in seconds."""

    delta_count: int = 200
    first_delay: float = 0.0
    inter_delay: float = 0.0


@dataclass
class Stats:
    requests: int = 0
    events: int = 0


class FakeCodex:
    """The server state: the current profile and the counters."""

    def __init__(self, profile: Profile | None = None) -> None:
        self.profile = profile or Profile()
        self.stats = Stats()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one connection until the peer closes it."""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, headers = _parse_head(head)
                body = await _read_body(reader, headers)
                await self._dispatch(writer, method, path, headers, body)
                if headers.get("connection", "").lower() == "close":
                    break
        writer.close()

    async def _dispatch(
        self, writer: asyncio.StreamWriter, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> None:
        route = path.split("?", 1)[0]
        if method == "POST" and route.endswith("/responses"):
            await self._stream(writer, _decoded(body, headers.get("content-encoding", "")))
        elif route == "/_bench/profile" and method == "POST":
            self.profile = Profile(**orjson.loads(body))
            writer.write(_json_response(200, asdict(self.profile)))
        elif route == "/_bench/stats":
            writer.write(_json_response(200, asdict(self.stats)))
        else:
            writer.write(_json_response(404, {"error": {"message": f"no route {route}"}}))

    async def _stream(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        profile = self.profile
        frames = chunked_frames(parse_seed(body) % VARIANTS, profile.delta_count)
        self.stats.requests += 1
        writer.write(_STREAM_HEAD)
        if profile.first_delay > 0:
            await asyncio.sleep(profile.first_delay)
        if profile.inter_delay > 0:
            await _write_paced(writer, frames, profile.inter_delay)
        else:
            await _write_burst(writer, frames)
        writer.write(_END)
        self.stats.events += len(frames)
        await writer.drain()


async def _write_burst(writer: asyncio.StreamWriter, frames: tuple[bytes, ...]) -> None:
    transport = writer.transport
    for frame in frames:
        writer.write(frame)
        if transport.get_write_buffer_size() > _HIGH_WATER:
            await writer.drain()


async def _write_paced(writer: asyncio.StreamWriter, frames: tuple[bytes, ...], delay: float) -> None:
    """Preamble at once, then ``delay`` before each delta, then the closing events at once."""
    deltas_end = len(frames) - _CLOSING
    for frame in frames[:_PREAMBLE]:
        writer.write(frame)
    for frame in frames[_PREAMBLE:deltas_end]:
        await asyncio.sleep(delay)
        if writer.is_closing():
            raise ConnectionError("client went away")
        writer.write(frame)
    for frame in frames[deltas_end:]:
        writer.write(frame)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _decoded(body: bytes, encoding: str) -> bytes:
    """Undo a compressed request body so the seed can be found (the proxy may zstd or gzip it)."""
    coding = encoding.strip().lower()
    if coding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "deflate":
        return zlib.decompress(body)
    return body


def _json_response(status: int, payload: object) -> bytes:
    body = orjson.dumps(payload)
    reason = b"OK" if status == 200 else b"Not Found"
    return (
        b"HTTP/1.1 %d %b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
        % (status, reason, len(body), body)
    )


async def serve(host: str, port: int, profile: Profile | None = None) -> tuple[asyncio.Server, int]:
    """Start the fake; returns the server and the port it listens on (useful with port 0)."""
    fake = FakeCodex(profile)
    server = await asyncio.start_server(fake.handle, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    return server, int(bound)


async def _main(host: str, port: int) -> None:
    server, bound = await serve(host, port)
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def install_fast_loop() -> None:
    """uvloop when present: the tools must cost as little CPU as possible on their shared core."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    install_fast_loop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
