"""The llhttp HTTP/1.1 transport, driven through httpx against raw scripted servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import httpx
import orjson
import pytest

from cliproxy.config.load import parse_config
from cliproxy.upstream.codex import CodexUpstream
from cliproxy.upstream.transport.direct import DirectTransport
from tests.fakes.raw_http import RawConnection, RawServer, answer_all, response
from tests.fakes.serving import free_port

TIMEOUT = httpx.Timeout(5, read=2)
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=DirectTransport(), timeout=TIMEOUT)


# --- keep-alive and reuse ---------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_sequential_requests_reuse_one_kept_alive_connection(chunked: bool) -> None:
    async def handler(connection: RawConnection) -> None:
        while (request := await connection.read_request()) is not None:
            await connection.send(response(f"reply to {request.target} ".encode() * 500, chunked=chunked))

    async with RawServer(handler) as server, client() as http:
        for n in range(3):
            reply = await http.get(f"{server.url}/r{n}")
            assert reply.status_code == 200
            assert reply.content == f"reply to /r{n} ".encode() * 500
    assert server.connections == 1
    assert [request.connection for request in server.requests] == [1, 1, 1]


@pytest.mark.parametrize("head", [
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
], ids=["connection-close", "http-1.0"])
async def test_a_response_marked_not_keep_alive_is_not_reused(head: str) -> None:
    closed_by_client: list[bool] = []

    async def handler(connection: RawConnection) -> None:
        if await connection.read_request() is not None:
            await connection.send(head.encode())
            closed_by_client.append(await connection.at_eof())  # the server leaves it open

    async with RawServer(handler) as server, client() as http:
        for _ in range(2):
            reply = await http.get(server.url + "/")
            assert reply.content == b"ok"
        await asyncio.sleep(0.05)
    assert server.connections == 2
    assert closed_by_client == [True, True]


async def test_a_body_delimited_by_connection_close_is_read_whole() -> None:
    async def handler(connection: RawConnection) -> None:
        if await connection.read_request() is not None:
            await connection.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
            await connection.close()

    async with RawServer(handler) as server, client() as http:
        reply = await http.get(server.url + "/")
    assert reply.content == b"until the end"


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    closed = asyncio.Event()

    async def handler(connection: RawConnection) -> None:
        if await connection.read_request() is not None:
            await connection.send(response(b"ok"))
            await connection.close()
            closed.set()

    async with RawServer(handler) as server, client() as http:
        assert (await http.get(server.url + "/1")).content == b"ok"
        await closed.wait()
        await asyncio.sleep(0.05)  # the client's loop sees the close while the connection is idle
        assert (await http.get(server.url + "/2")).content == b"ok"
    assert server.connections == 2
    assert [request.target for request in server.requests] == ["/1", "/2"]


# --- the keep-alive race: one retry on a fresh connection, no more ----------------------------


async def test_a_reused_connection_closed_before_answering_is_retried_once_on_a_new_one() -> None:
    async def handler(connection: RawConnection) -> None:
        if connection.index > 1:
            return await answer_all(connection, b"fresh")
        await connection.read_request()
        await connection.send(response(b"first"))
        await connection.read_request()  # reads the next request, then closes without a word
        await connection.close()

    async with RawServer(handler) as server, client() as http:
        assert (await http.get(server.url + "/1")).content == b"first"
        assert (await http.post(server.url + "/2", content=b'{"n":2}')).content == b"fresh"
    assert server.connections == 2
    assert [(r.target, r.body, r.connection) for r in server.requests] == [
        ("/1", b"", 1), ("/2", b'{"n":2}', 1), ("/2", b'{"n":2}', 2)]


async def test_a_fresh_connection_closed_before_answering_is_not_retried() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.close()

    async with RawServer(handler) as server, client() as http:
        with pytest.raises(httpx.ReadError):
            await http.get(server.url + "/")
        await asyncio.sleep(0.05)
    assert server.connections == 1


async def test_the_retry_itself_closed_before_answering_raises_without_another_retry() -> None:
    async def handler(connection: RawConnection) -> None:
        if connection.index == 1:
            await connection.read_request()
            await connection.send(response(b"first"))
        await connection.read_request()
        await connection.close()

    async with RawServer(handler) as server, client() as http:
        assert (await http.get(server.url + "/1")).content == b"first"
        with pytest.raises(httpx.ReadError):
            await http.get(server.url + "/2")
        await asyncio.sleep(0.05)
    assert server.connections == 2


async def test_a_reused_connection_that_sent_part_of_an_answer_is_not_retried() -> None:
    async def handler(connection: RawConnection) -> None:
        if connection.index > 1:
            return await answer_all(connection, b"fresh")
        await connection.read_request()
        await connection.send(response(b"first"))
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\nContent-Le")
        await connection.close()

    async with RawServer(handler) as server, client() as http:
        assert (await http.get(server.url + "/1")).content == b"first"
        with pytest.raises(httpx.ReadError):
            await http.get(server.url + "/2")
    assert server.connections == 1


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_a_5_mib_body_reaches_a_slow_reader_whole_and_in_bounded_pieces(chunked: bool) -> None:
    body = random.Random(7).randbytes(5 << 20)

    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(response(body, chunked=chunked))
        await answer_all(connection)

    pieces: list[bytes] = []
    async with RawServer(handler) as server, client() as http, asyncio.timeout(8):
        async with http.stream("GET", server.url + "/big") as reply:
            async for piece in reply.aiter_raw():
                pieces.append(piece)
                await asyncio.sleep(0.03)
        assert (await http.get(server.url + "/after")).content == b"ok"
    assert b"".join(pieces) == body
    # Reading pauses once about a megabyte waits unread: memory stays bounded, not the whole body.
    assert max(map(len, pieces)) <= 2 << 20
    assert server.connections == 1


@pytest.mark.parametrize("cut", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500,
    HEAD_CHUNKED + b"3e8\r\n" + b"x" * 500,
], ids=["content-length", "chunked"])
async def test_a_body_cut_midway_raises_a_read_error(cut: bytes) -> None:
    async def handler(connection: RawConnection) -> None:
        if connection.index > 1:
            return await answer_all(connection, b"next")
        await connection.read_request()
        await connection.send(cut)
        await connection.close()

    received = bytearray()
    async with RawServer(handler) as server, client() as http, asyncio.timeout(5):
        async with http.stream("GET", server.url + "/") as reply:
            with pytest.raises(httpx.ReadError):
                async for piece in reply.aiter_raw():
                    received += piece
        assert (await http.get(server.url + "/next")).content == b"next"
    assert len(received) <= 500
    assert server.connections == 2


async def test_a_response_dribbled_a_few_bytes_at_a_time_is_parsed_whole() -> None:
    whole = (b"HTTP/1.1 201 Created\r\nX-Long-Header-Name: a value split across reads\r\n"
             + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        for i in range(0, len(whole), 3):
            await connection.send(whole[i:i + 3])
            await asyncio.sleep(0.001)
        await answer_all(connection)

    async with RawServer(handler) as server, client() as http:
        reply = await http.get(server.url + "/")
        assert (reply.status_code, reply.reason_phrase) == (201, "Created")
        assert reply.headers["x-long-header-name"] == "a value split across reads"
        assert reply.content == b"hello world"
        assert (await http.get(server.url + "/")).content == b"ok"
    assert server.connections == 1


async def test_an_interim_1xx_response_is_skipped() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        await asyncio.sleep(0.05)
        await connection.send(response(b"final"))

    async with RawServer(handler) as server, client() as http, asyncio.timeout(5):
        reply = await http.post(server.url + "/", content=b"{}")
    assert (reply.status_code, reply.content) == (200, b"final")


# --- timeouts and early close -----------------------------------------------------------------


async def test_a_server_that_never_answers_raises_read_timeout() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await asyncio.Event().wait()

    async with RawServer(handler) as server, client() as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url + "/", timeout=httpx.Timeout(5, read=0.3))
        assert time.monotonic() - started < 5


def _hello_then_hold(closed_by_client: list[bool]) -> Callable[[RawConnection], Awaitable[None]]:
    """First connection: one body chunk, then silence until the client closes it (recorded);
    later connections answer ``next``."""

    async def handler(connection: RawConnection) -> None:
        if connection.index > 1:
            return await answer_all(connection, b"next")
        await connection.read_request()
        await connection.send(HEAD_CHUNKED + b"5\r\nhello\r\n")
        closed_by_client.append(await connection.at_eof())

    return handler


async def test_a_body_that_stalls_raises_read_timeout_and_the_connection_is_dropped() -> None:
    closed_by_client: list[bool] = []
    handler = _hello_then_hold(closed_by_client)

    async with RawServer(handler) as server, client() as http:
        async with http.stream("GET", server.url + "/", timeout=httpx.Timeout(5, read=0.3)) as reply:
            with pytest.raises(httpx.ReadTimeout):
                await reply.aread()
        assert (await http.get(server.url + "/next")).content == b"next"
        await asyncio.sleep(0.05)
    assert server.connections == 2
    assert closed_by_client == [True]


async def test_a_reader_that_stops_early_closes_the_connection() -> None:
    closed_by_client: list[bool] = []
    handler = _hello_then_hold(closed_by_client)

    async with RawServer(handler) as server, client() as http:
        async with http.stream("GET", server.url + "/") as reply:
            async for piece in reply.aiter_raw():
                assert piece == b"hello"
                break
        assert (await http.get(server.url + "/next")).content == b"next"
        await asyncio.sleep(0.05)
    assert server.connections == 2
    assert closed_by_client == [True]


# --- errors -----------------------------------------------------------------------------------


async def test_connection_refused_raises_connect_error_without_secrets() -> None:
    port = free_port()
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get(f"http://127.0.0.1:{port}/x?token=q-secret",
                           headers={"Authorization": "Bearer tok-secret-1", "X-Key": "hdr-secret-2"})
    message = str(caught.value) + repr(caught.value)
    assert "secret" not in message
    assert str(port) in message


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    HEAD_CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n",
], ids=["status-line", "chunk-size"])
async def test_a_malformed_response_raises_remote_protocol_error(answer: bytes) -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(answer)
        await connection.at_eof()

    async with RawServer(handler) as server, client() as http, asyncio.timeout(5):
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url + "/")


# --- the request on the wire ------------------------------------------------------------------


async def test_the_request_reaches_the_server_as_sent() -> None:
    body = orjson.dumps({"model": "gpt-5.4", "input": [{"role": "user", "content": "héllo"}]})
    async with RawServer(answer_all) as server, client() as http:
        await http.post(server.url + "/backend-api/codex/responses?stream=true&x=a%20b", content=body,
                        headers={"Content-Type": "application/json", "Authorization": "Bearer t"})
    [request] = server.requests
    assert (request.method, request.target, request.version) == (
        "POST", "/backend-api/codex/responses?stream=true&x=a%20b", "HTTP/1.1")
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["content-length"] == str(len(body))
    assert request.headers["authorization"] == "Bearer t"
    assert "transfer-encoding" not in request.headers
    assert request.body == body


async def test_a_streamed_request_body_is_sent_chunked_and_arrives_whole() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b'{"input":', b"", b' "' + b"y" * 70000, b'"}'):
            yield piece

    async with RawServer(answer_all) as server, client() as http:
        reply = await http.post(server.url + "/up", content=pieces())
        assert reply.content == b"ok"
    [request] = server.requests
    assert request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in request.headers
    assert request.body == b'{"input": "' + b"y" * 70000 + b'"}'
    assert request.raw.endswith(b"\r\n0\r\n\r\n")


# --- which transport CodexUpstream picks ------------------------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def fetch_through_upstream(config: Mapping[str, object], path: str) -> bytes:
    upstream = CodexUpstream(parse_config(config))
    try:
        reply = await upstream.client_for_egress().get(path)
        return reply.content
    finally:
        await upstream.aclose()


@pytest.mark.parametrize("http2", [True, False], ids=["http2-on", "http2-off"])
async def test_a_proxy_from_the_environment_is_used_not_the_direct_transport(
        http2: bool, no_env_proxy: pytest.MonkeyPatch) -> None:
    async with RawServer(answer_all) as backend, \
            RawServer(lambda c: answer_all(c, b"via proxy")) as proxy:
        no_env_proxy.setenv("HTTP_PROXY", proxy.url)
        no_env_proxy.setenv("http_proxy", proxy.url)
        url = backend.url + "/backend-api/codex/models?v=1"
        assert await fetch_through_upstream({"upstream": {"http2": http2}}, url) == b"via proxy"
    assert [request.target for request in proxy.requests] == [url]  # absolute form: a proxy request
    assert backend.connections == 0


@pytest.mark.parametrize("http2", [True, False], ids=["http2-on", "http2-off"])
async def test_a_configured_proxy_url_is_used_not_the_direct_transport(
        http2: bool, no_env_proxy: pytest.MonkeyPatch) -> None:
    async with RawServer(answer_all) as backend, \
            RawServer(lambda c: answer_all(c, b"via proxy")) as proxy:
        url = backend.url + "/backend-api/codex/models"
        config = {"upstream": {"http2": http2}, "proxy-url": proxy.url}
        assert await fetch_through_upstream(config, url) == b"via proxy"
    assert [request.target for request in proxy.requests] == [url]
    assert backend.connections == 0


@pytest.mark.parametrize("http2", [True, False], ids=["http2-on", "http2-off"])
async def test_without_a_proxy_plain_http_goes_direct_on_kept_alive_connections(
        http2: bool, no_env_proxy: pytest.MonkeyPatch) -> None:
    async with RawServer(answer_all) as backend:
        upstream = CodexUpstream(parse_config({"upstream": {"http2": http2}}))
        http = upstream.client_for_egress()
        try:
            for _ in range(3):
                assert (await http.get(backend.url + "/backend-api/codex/models")).content == b"ok"
        finally:
            await upstream.aclose()
    assert [request.target for request in backend.requests] == ["/backend-api/codex/models"] * 3
    assert backend.connections == 1


async def test_stray_bytes_on_an_idle_connection_never_answer_the_next_request() -> None:
    answered: list[bytes] = []

    async def handler(connection: RawConnection) -> None:
        while await connection.read_request() is not None:
            body = b"second" if answered else b"first"
            answered.append(body)
            await connection.send(response(body))
            if body == b"first":
                await asyncio.sleep(0.05)
                await connection.send(response(b"stale"))  # nobody asked for this one

    async with RawServer(handler) as server, client() as http:
        assert (await http.get(server.url + "/")).content == b"first"
        await asyncio.sleep(0.2)
        assert (await http.get(server.url + "/")).content == b"second"
    assert server.connections == 2


async def test_post_sends_the_proxys_own_request_as_built() -> None:
    async with RawServer(answer_all) as server:
        transport = DirectTransport()
        body = orjson.dumps({"model": "gpt-5.4", "input": "é \"q\""})
        headers = {"content-type": "application/json", "session_id": "s-1", "x-codex-turn": "t"}
        for _ in range(2):
            reply = await transport.post(server.url + "/backend-api/codex/responses?x=1", headers, body,
                                         TIMEOUT.as_dict())
            assert reply.status_code == 200 and await reply.aread() == b"ok"
            await reply.aclose()
        await transport.aclose()
    first = server.requests[0]
    assert (first.method, first.target) == ("POST", "/backend-api/codex/responses?x=1")
    assert first.headers["host"] == f"127.0.0.1:{server.url.rsplit(':', 1)[1]}"
    assert first.headers["session_id"] == "s-1" and first.headers["content-length"] == str(len(body))
    assert first.body == body
    assert [r.connection for r in server.requests] == [1, 1]


@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\nb", "a\rb"])
async def test_post_refuses_a_header_value_with_a_line_break(value: str) -> None:
    async with RawServer(answer_all) as server:
        with pytest.raises(httpx.LocalProtocolError):
            await DirectTransport().post(server.url + "/", {"session_id": value}, b"{}", TIMEOUT.as_dict())
    assert server.requests == []
