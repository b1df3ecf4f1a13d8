"""Request bodies: decompressed (zstd, gzip, deflate on every route) and parsed as a JSON object."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
import zstandard
from starlette.requests import Request

from cliproxy.errors import ProxyError, bad_request

MAX_DECOMPRESSED = 256 * 1024 * 1024


def _zstd(data: bytes) -> bytes:
    """At most one byte over the bound: enough for ``decode_body`` to refuse a bomb unread."""
    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
        return bytes(reader.read(MAX_DECOMPRESSED + 1))


def _deflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)  # raw deflate, as some clients send


_DECODERS = {"zstd": _zstd, "gzip": gzip.decompress, "x-gzip": gzip.decompress, "deflate": _deflate}


def decode_body(data: bytes, content_encoding: str) -> bytes:
    """Undo ``Content-Encoding`` right to left; ``identity`` is ignored."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise ProxyError(415, f"Invalid request: unsupported Content-Encoding {coding!r}",
                             type="invalid_request_error")
        try:
            data = decoder(data)
        except Exception:
            raise bad_request(f"Invalid request: body is not valid {coding} data") from None
        if len(data) > MAX_DECOMPRESSED:
            raise bad_request("Invalid request: decompressed body too large")
    return data


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    data = decode_body(await request.body(), request.headers.get("content-encoding", ""))
    if not data.strip():
        raise bad_request("Invalid request: the body is empty; a JSON object is expected")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"Invalid request: body is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise bad_request("Invalid request: the body must be a JSON object")
    return value
