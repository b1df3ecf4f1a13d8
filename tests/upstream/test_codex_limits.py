"""``CodexUpstream`` against a hostile or broken HTTP/1.1 upstream (raw scripted servers): no header
smuggling, answers read whole within ``limits.upstream-body-bytes`` however they are coded, SSE
events within ``limits.sse-event-bytes``, and any bytes at all end in a ProxyError or a stream."""

from __future__ import annotations

import asyncio
import gzip
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliproxy.config.limits import MiB
from cliproxy.config.load import parse_config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.upstream.codex import CodexUpstream
from cliproxy.upstream.request import UpstreamRequest
from tests.fakes.raw_http import RawConnection, RawServer, response

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
SMUGGLED = "k\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def credential(base_url: str) -> Credential:
    return Credential(id="a.json", kind="oauth", access_token="tok-a", base_url=base_url, account_id="acc-1")


def request(prompt_cache_key: str | None = None, **headers: str) -> UpstreamRequest:
    return UpstreamRequest(body={"input": [{"role": "user", "content": "hi"}]}, model="gpt-5.4",
                           dialect="openai-responses", prompt_cache_key=prompt_cache_key, client_headers=headers)


@asynccontextmanager
async def upstream_for(handler: Callable[[RawConnection], Awaitable[None]],
                       **limits: int) -> AsyncIterator[tuple[CodexUpstream, RawServer]]:
    config = parse_config({"limits": {key.replace("_", "-"): value for key, value in limits.items()},
                           "upstream": {"read-timeout-seconds": 0.5, "connect-timeout-seconds": 1}})
    upstream = CodexUpstream(config)
    try:
        async with RawServer(handler) as server:
            yield upstream, server
    finally:
        await upstream.aclose()


def answering(*answers: bytes) -> Callable[[RawConnection], Awaitable[None]]:
    """Each request on a connection gets the next answer; then the connection closes."""
    async def handler(connection: RawConnection) -> None:
        for answer in answers:
            if await connection.read_request() is None:
                return
            await connection.send(answer)
    return handler


async def events_of(upstream: CodexUpstream, base_url: str) -> list[dict[str, Any]]:
    async with upstream.stream(credential(base_url), request()) as opened:
        return [event async for batch in opened.batches() for event, _ in batch]


# --- one header check on every way out ----------------------------------------------------------


async def test_a_cr_lf_prompt_cache_key_on_compact_never_smuggles_a_second_request() -> None:
    compacted = orjson.dumps({"output": []})
    async with upstream_for(answering(*[response(compacted)] * 3)) as (upstream, server):
        with pytest.raises(ProxyError) as refused:
            await upstream.compact(credential(server.url), request(prompt_cache_key=SMUGGLED))
        status, body = await upstream.compact(credential(server.url), request(prompt_cache_key="k"))
    assert refused.value.outcome is Outcome.INTERNAL and refused.value.status == 500
    assert not refused.value.retryable  # ours: no account is blamed, no failover
    assert SMUGGLED not in refused.value.message
    assert (status, body) == (200, compacted)
    assert [(r.method, r.target) for r in server.requests] == [("POST", "/responses/compact")]


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\0b"], ids=["CR", "LF", "NUL"])
@pytest.mark.parametrize("way", ["stream", "compact"])
async def test_cr_lf_and_nul_are_refused_on_every_way_out(value: str, way: str) -> None:
    async with upstream_for(answering(response(b"{}"))) as (upstream, server):
        with pytest.raises(ProxyError) as refused:
            if way == "stream":
                await events_of_with(upstream, server.url, request(prompt_cache_key=value))
            else:
                await upstream.compact(credential(server.url), request(prompt_cache_key=value))
    assert refused.value.outcome is Outcome.INTERNAL
    assert server.requests == []


async def events_of_with(upstream: CodexUpstream, base_url: str, upstream_request: UpstreamRequest) -> None:
    async with upstream.stream(credential(base_url), upstream_request) as opened:
        async for _ in opened.batches():
            pass


# --- answers read whole -------------------------------------------------------------------------

ZEROS = 64 * MiB


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * ZEROS, compresslevel=1)


def zstd_bomb() -> bytes:
    return zstandard.ZstdCompressor(level=1).compress(b"\0" * ZEROS)


@pytest.mark.parametrize("coding, bomb", [("gzip", gzip_bomb), ("zstd", zstd_bomb)])
@pytest.mark.parametrize("way", ["error-answer", "compact"])
async def test_a_decompression_bomb_is_a_clear_error_not_a_gigabyte(coding: str, bomb: Callable[[], bytes],
                                                                    way: str) -> None:
    body = bomb()
    status = "500 Internal Server Error" if way == "error-answer" else "200 OK"
    answer = response(body, status=status, headers=(f"Content-Encoding: {coding}",))
    del body
    tracemalloc.start()
    try:
        async with upstream_for(answering(answer), upstream_body_bytes=MiB) as (upstream, server):
            with pytest.raises(ProxyError) as refused:
                if way == "compact":
                    await upstream.compact(credential(server.url), request())
                else:
                    await events_of(upstream, server.url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "limits.upstream-body-bytes" in refused.value.message and refused.value.status == 502
    assert peak < 100 * MiB  # 64 MiB decoded would not fit, let alone httpx's copies of it


async def test_an_answer_larger_than_the_limit_as_sent_is_refused_before_it_is_read_whole() -> None:
    answer = response(b"x" * (3 * MiB), status="500 Internal Server Error")
    async with upstream_for(answering(answer), upstream_body_bytes=MiB) as (upstream, server):
        with pytest.raises(ProxyError, match=r"limits\.upstream-body-bytes"):
            await events_of(upstream, server.url)


async def test_a_coded_error_answer_within_the_limit_is_decoded_and_classified() -> None:
    error = orjson.dumps({"error": {"type": "usage_limit_reached", "message": "limit", "resets_in_seconds": 60}})
    answer = response(gzip.compress(error), status="429 Too Many Requests", headers=("Content-Encoding: gzip",))
    async with upstream_for(answering(answer)) as (upstream, server):
        with pytest.raises(ProxyError) as classified:
            await events_of(upstream, server.url)
    assert classified.value.outcome is Outcome.QUOTA_EXHAUSTED


# --- the SSE stream ---------------------------------------------------------------------------


async def test_an_sse_line_over_the_limit_ends_the_stream_with_an_error_naming_the_key() -> None:
    async def handler(connection: RawConnection) -> None:
        if await connection.read_request() is None:
            return
        await connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ")
        for _ in range(8):  # 8 MiB of one line, then never a line end
            await connection.send(b"x" * MiB + b"\r")
        await asyncio.sleep(5)

    tracemalloc.start()
    try:
        async with upstream_for(handler, sse_event_bytes=MiB) as (upstream, server):
            with pytest.raises(ProxyError, match=r"limits\.sse-event-bytes"):
                await events_of(upstream, server.url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * MiB


# --- a property: whatever the upstream sends ---------------------------------------------------

STATUS_LINES = [b"HTTP/1.1 200 OK", b"HTTP/1.1 500 Oops", b"HTTP/1.1 429 Slow", b"HTTP/1.0 200 OK",
                b"HTTP/1.1 101 Switching", b"HTTP/1.1 100 Continue", b"HTTP/9 200 OK", b"garbage", b""]
FRAMES = [b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n",
          b"data: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\r\n\r\n",
          b"data: [DONE]\n\n", b": comment\n\n", b"data: {broken\n\n", b"event: x\r", b"\n", b"\r\n",
          b"data: " + b"y" * 5000]
HEADER_LINES = [b"Content-Length: 0", b"Content-Length: 40", b"Content-Length: -1", b"Transfer-Encoding: chunked",
                b"Content-Encoding: gzip", b"Connection: close", b"X-Many: " + b"m" * 3000, b"bad header",
                b"Content-Type: text/event-stream", b"x-codex-primary-used-percent: 12"]


@st.composite
def upstream_bytes(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A head from pieces of real and broken ones, a body of SSE pieces, chunk framing or random
    bytes, cut anywhere; and whether the server then closes or leaves the client waiting."""
    head = draw(st.sampled_from(STATUS_LINES)) + b"\r\n"
    head += b"".join(line + b"\r\n" for line in draw(st.lists(st.sampled_from(HEADER_LINES), max_size=6)))
    head += draw(st.sampled_from([b"\r\n", b"\n", b""]))
    pieces = draw(st.lists(st.one_of(st.sampled_from(FRAMES), st.binary(max_size=40),
                                     st.sampled_from([b"5\r\nhello\r\n", b"0\r\n\r\n", b"zz\r\n"])),
                           max_size=8))
    data = head + b"".join(pieces)
    cut = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:cut] if draw(st.booleans()) else data, draw(st.booleans())


# 60 examples keep CI quick; CLIPROXY_PROPERTY_EXAMPLES=2000 runs a thorough search before a release.
EXAMPLES = int(os.environ.get("CLIPROXY_PROPERTY_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(upstream_bytes())
def test_any_bytes_from_the_upstream_end_in_a_proxy_error_or_a_stream(sent: tuple[bytes, bool]) -> None:
    data, close = sent

    async def handler(connection: RawConnection) -> None:
        if await connection.read_request() is None:
            return
        await connection.send(data)
        if not close:
            await asyncio.sleep(5)

    async def run() -> None:
        async with upstream_for(handler, upstream_head_bytes=2048, upstream_header_count=8,
                                sse_event_bytes=4096, upstream_body_bytes=4096) as (upstream, server):
            async with asyncio.timeout(3):  # the read timeout is 0.5 s: nothing may wait longer
                with suppress(ProxyError):
                    await events_of(upstream, server.url)

    asyncio.run(run())


async def test_a_reloaded_limit_applies_to_the_next_request() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-N%d: v\r\n" % n for n in range(12))
    answer = head + b"Content-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n"
    async with upstream_for(answering(answer, answer), upstream_header_count=10) as (upstream, server):
        with pytest.raises(ProxyError, match=r"limits\.upstream-header-count"):
            await events_of(upstream, server.url)
        upstream.configure(parse_config({"limits": {"upstream-header-count": 20}}))
        assert await events_of(upstream, server.url) == []
