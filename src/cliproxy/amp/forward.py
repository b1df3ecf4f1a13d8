"""The reverse proxy to ampcode.com: a request passed on with Amp's key, its answer streamed back.

What leaves: the method, path and query as received (a client key in ``key=``/``auth_token=`` is
taken out), the body, and the caller's headers minus its credentials, the headers that trace or
fingerprint it (``X-Forwarded-*``, ``Via``, ``Referer``, ``Sec-*``, ``X-Stainless-*``, ``Priority``)
and the per-connection ones; then the Amp key as ``Authorization: Bearer`` and ``X-Api-Key``. No
``X-Forwarded-For`` is added: ampcode.com learns nothing of the caller's address. Every header passes
the same check as every other way out (``upstream/transport/headers.py``).

What comes back: status and headers as sent (minus per-connection ones), plus
``X-Cliproxy-Served-By: ampcode.com``, so a user can see which answers spent Amp credits. The body is
streamed as it arrives, SSE included. We ask for gzip only and decode it in bounded steps, so the
client always gets an identity body; a gzip body sent without ``Content-Encoding`` (ampcode.com has
done so) is decoded too when it is whole within ``limits.upstream-body-bytes``. Before the answer's
headers, an unreachable upstream is a 502; after them, a break ends the stream where it is, with
nothing appended.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from starlette.responses import Response

from cliproxy.server.event_stream import EventStream
from cliproxy.server.json import JSONResponse
from cliproxy.upstream.transport.headers import encoded_fields

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade"})
# The caller's credentials and what traces or fingerprints it never reach ampcode.com.
SCRUBBED = HOP_BY_HOP | frozenset({
    "authorization", "x-api-key", "x-goog-api-key", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
    "x-forwarded-port", "x-real-ip", "forwarded", "via", "x-title", "x-stainless-lang",
    "x-stainless-package-version", "x-stainless-os", "x-stainless-arch", "x-stainless-runtime",
    "x-stainless-runtime-version", "http-referer", "referer", "sec-ch-ua", "sec-ch-ua-mobile",
    "sec-ch-ua-platform", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-dest", "priority", "accept-encoding",
    "host", "content-length"})
SERVED_BY = (b"x-cliproxy-served-by", b"ampcode.com")
UNREACHABLE = {"error": "amp_upstream_proxy_error", "message": "Failed to reach Amp upstream"}
KEY_PARAMS = ("key", "auth_token")
_STEP = 1 << 16
# The server adds its own Date and Server; a second copy of each would reach the client.
_ANSWER_DROPPED = frozenset(name.encode() for name in HOP_BY_HOP | {"content-length", "date", "server"})


@dataclass(frozen=True)
class Outbound:
    """One request for ampcode.com, ready to send."""

    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes


def target_url(base: str, path: str, query: str) -> str:
    """``base`` + ``path`` with one ``/`` between them; the two queries joined with ``&``, as sent."""
    parts = urlsplit(base)
    joined = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, joined, "&".join(q for q in (parts.query, query) if q), ""))


def scrub_query(query: str, client_key: str | None) -> str:
    """The raw query, less every ``key``/``auth_token`` value equal to the client key (re-encoded
    only when there is one to look at)."""
    if not client_key or not any(f"{name}=" in query for name in KEY_PARAMS):
        return query
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if not (k in KEY_PARAMS and v == client_key)]
    return urlencode(sorted(kept, key=lambda item: item[0]))


def outbound_headers(headers: Mapping[str, str], secret: str, body_rewritten: bool) -> list[tuple[bytes, bytes]]:
    """The caller's headers as they may leave (see the module docstring), checked, with ``secret``."""
    named = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    dropped = SCRUBBED | named | ({"content-encoding"} if body_rewritten else set())
    out = {name.lower(): value for name, value in headers.items() if name.lower() not in dropped}
    out["accept-encoding"] = "gzip"
    if secret:
        out["authorization"] = f"Bearer {secret}"
        out["x-api-key"] = secret
    return encoded_fields(out)


def unreachable() -> Response:
    return JSONResponse(UNREACHABLE, status_code=502)


async def forward(client: httpx.AsyncClient, outbound: Outbound, timeout: httpx.Timeout, limit: int) -> Response:
    """Send ``outbound`` and answer with what came back (module docstring); 502 when unreachable."""
    request = client.build_request(outbound.method, outbound.url, headers=outbound.headers,
                                   content=outbound.body, timeout=timeout)
    try:
        answer = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        log.error("Amp upstream unreachable for %s %s (%s)", outbound.method, request.url.path, type(exc).__name__)
        return unreachable()
    try:
        return await _answer(answer, limit)
    except httpx.HTTPError as exc:
        await answer.aclose()
        log.error("Amp upstream broke off %s %s (%s)", outbound.method, request.url.path, type(exc).__name__)
        return unreachable()


async def _answer(answer: httpx.Response, limit: int) -> Response:
    coding = answer.headers.get("content-encoding", "").strip().lower()
    headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in _ANSWER_DROPPED]
    raw = answer.aiter_raw()
    if coding in ("gzip", "x-gzip", "deflate"):
        headers = [(k, v) for k, v in headers if k.lower() != b"content-encoding"]
        body = _inflated(raw, 31 if coding != "deflate" else zlib.MAX_WBITS)
    elif not coding and "text/event-stream" not in answer.headers.get("content-type", ""):
        first = await anext(raw, b"")
        if first[:2] == b"\x1f\x8b":
            whole, complete = await _read_up_to(first, raw, limit)
            if complete:
                await answer.aclose()
                decoded = _gunzip(whole, limit)
                return _whole(answer.status_code, headers, whole if decoded is None else decoded)
            first = whole
        body = _prepend(first, raw)
    else:
        body = raw
    response = EventStream(_until_broken(body, answer), status_code=answer.status_code)
    response.raw_headers = [*headers, SERVED_BY]
    return response


def _whole(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
    response = Response(body, status_code=status)
    response.raw_headers = [*headers, (b"content-length", str(len(body)).encode()), SERVED_BY]
    return response


async def _read_up_to(first: bytes, raw: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """The body read on from ``first``: all of it (True) or the first ``limit``-odd bytes (False)."""
    pieces, size = [first], len(first)
    async for piece in raw:
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            return b"".join(pieces), False
    return b"".join(pieces), True


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """The decoded body, or None when it is not whole, valid gzip within ``limit``."""
    inflater = zlib.decompressobj(31)
    try:
        decoded = inflater.decompress(data, limit + 1)
    except zlib.error:
        return None
    return decoded if inflater.eof and len(decoded) <= limit else None


async def _inflated(raw: AsyncIterator[bytes], wbits: int) -> AsyncIterator[bytes]:
    """Decoded in steps of at most 64 KiB, so a small compressed chunk never becomes a huge one."""
    inflater = zlib.decompressobj(wbits)
    async for piece in raw:
        data = piece
        while data:
            out = inflater.decompress(data, _STEP)
            data = inflater.unconsumed_tail
            if out:
                yield out
    if tail := inflater.flush():
        yield tail


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for piece in rest:
        yield piece


async def _until_broken(body: AsyncIterator[bytes], answer: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it comes; a break ends it where it is (the client sees a short stream)."""
    try:
        async for piece in body:
            yield piece
    except (httpx.HTTPError, zlib.error) as exc:
        log.warning("Amp upstream answer to %s broke off mid-stream (%s)", answer.request.url.path,
                    type(exc).__name__)
    finally:
        await answer.aclose()


__all__ = ["Outbound", "forward", "outbound_headers", "scrub_query", "target_url", "unreachable"]
