"""Upstream answers read whole, bounded as sent and once decompressed.

Error answers, compaction, usage reads, model discovery and the relayed ChatGPT backend requests
are read into memory. httpx reads such a body without a limit and decompresses it without one
(256 MiB sent gzip- or zstd-coded took over 1 GiB). Here the body is read as sent up to
``limits.upstream-body-bytes``, then decoded in bounded steps up to the same limit, so the most
one answer can cost is twice the limit. The codings are the ones the requests offer
(``ACCEPT_ENCODING``); any other is passed on undecoded, as httpx does.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import zstandard

from cliproxy.errors import Outcome, ProxyError

log = logging.getLogger(__name__)

ACCEPT_ENCODING = "gzip, deflate, zstd"
_STEP = 1 << 16  # decoded bytes produced per step
_ZSTD_MAX_WINDOW = 1 << 23  # 8 MiB, the window every zstd decoder must support (RFC 8878)


def too_large(limit: int) -> ProxyError:
    """The error for an answer over the limit, logged once with the key that raises it."""
    log.warning("upstream answer refused: larger than %d bytes; raise limits.upstream-body-bytes if this "
                "upstream is trusted", limit)
    return ProxyError(502, f"the upstream's answer is larger than {limit} bytes (limits.upstream-body-bytes)",
                      code="upstream_response_too_large", outcome=Outcome.SERVER_ERROR)


async def read_whole(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed ``response``, decoded; a ProxyError once it passes ``limit`` bytes,
    as sent or decoded. Transport errors are the caller's, as httpx raises them."""
    if response.is_stream_consumed:  # built in memory (httpx.MockTransport): httpx read and decoded it
        if len(response.content) > limit:
            raise too_large(limit)
        return response.content
    pieces, size = [], 0
    async for piece in response.aiter_raw():
        size += len(piece)
        if size > limit:
            await response.aclose()
            raise too_large(limit)
        pieces.append(piece)
    return decoded(b"".join(pieces), response.headers.get("content-encoding", ""), limit)


async def fetch_whole(client: httpx.AsyncClient, method: str, url: str, limit: int, *,
                      content: bytes | None = None, **options: Any) -> tuple[httpx.Response, bytes]:
    """One request and its whole answer (``options`` as ``client.build_request`` takes them),
    read within ``limit``; the response is closed. Raises httpx's errors and ``read_whole``'s."""
    response = await client.send(client.build_request(method, url, content=content, **options), stream=True)
    try:
        return response, await read_whole(response, limit)
    finally:
        await response.aclose()


def decoded(body: bytes, content_encoding: str, limit: int) -> bytes:
    """``body`` with its codings undone, last applied first."""
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",") if c.strip()]):
        decoder = _DECODERS.get(coding)
        if decoder is not None:
            try:
                body = decoder(body, limit)
            except (zlib.error, zstandard.ZstdError) as exc:
                raise ProxyError(502, f"the upstream's {coding} answer cannot be decoded ({type(exc).__name__})",
                                 code="upstream_bad_encoding", outcome=Outcome.SERVER_ERROR) from None
    return body


def _zlib(body: bytes, limit: int, wbits: int) -> bytes:
    """Inflate in steps of ``_STEP``: zlib keeps the input it has not expanded yet."""
    inflater = zlib.decompressobj(wbits)
    pieces, size, data = [], 0, body
    while True:
        piece = inflater.decompress(data, min(_STEP, limit + 1 - size))
        size += len(piece)
        if size > limit:
            raise too_large(limit)
        pieces.append(piece)
        data = inflater.unconsumed_tail
        if not piece and not data:
            return b"".join(pieces)


def _gzip(body: bytes, limit: int) -> bytes:
    return _zlib(body, limit, 16 + zlib.MAX_WBITS)


def _deflate(body: bytes, limit: int) -> bytes:
    """zlib-wrapped, as the standard says, or raw deflate, as some servers send it (httpx accepts both)."""
    try:
        return _zlib(body, limit, zlib.MAX_WBITS)
    except zlib.error:
        return _zlib(body, limit, -zlib.MAX_WBITS)


def _zstd(body: bytes, limit: int) -> bytes:
    """Decoded in steps, with the window (the decoder's own memory) capped at 8 MiB."""
    decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    pieces, size = [], 0
    with decompressor.stream_reader(body, read_across_frames=True) as reader:
        while piece := reader.read(_STEP):
            size += len(piece)
            if size > limit:
                raise too_large(limit)
            pieces.append(piece)
    return b"".join(pieces)


def _identity(body: bytes, limit: int) -> bytes:
    return body


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "zstd": _zstd, "identity": _identity}

__all__ = ["ACCEPT_ENCODING", "decoded", "fetch_whole", "read_whole", "too_large"]
