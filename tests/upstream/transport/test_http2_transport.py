"""Our HTTP/2 upstream transport (``DirectTransport(http2=True)`` → ``http2.py``) against real TLS
servers on 127.0.0.1: hypercorn serving small Starlette apps, and a server scripted with h2's own
server side for what hypercorn does not do on cue (reset one stream, cut a connection, GOAWAY)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import orjson
import pytest
import trustme
from h2.errors import ErrorCodes
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from hyperframe.frame import GoAwayFrame
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cliproxy.upstream.transport import http2
from cliproxy.upstream.transport.direct import DirectTransport
from cliproxy.upstream.transport.http2 import STREAM_WINDOW
from cliproxy.upstream.transport.http2_stream import Http2Body
from tests.fakes import codex_events
from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import free_port

TIMEOUT = httpx.Timeout(5, read=3)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def h2_transport(ca: trustme.CA) -> DirectTransport:
    return DirectTransport(ssl_context=client_context(ca), http2=True)


@asynccontextmanager
async def h2_client(ca: trustme.CA) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=h2_transport(ca), timeout=TIMEOUT) as client:
        yield client


# --- hypercorn: a real HTTP/2 server --------------------------------------------------------------


@asynccontextmanager
async def hypercorn(app: Any, ca: trustme.CA, tmp_path: Path, alpn: tuple[str, ...] = ("h2", "http/1.1"),
                    max_streams: int = 100) -> AsyncIterator[str]:
    """``https://127.0.0.1:<port>`` while hypercorn serves ``app`` in this test's own loop."""
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    config = HypercornConfig()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(cert_file), str(key_file)
    config.alpn_protocols = list(alpn)
    config.h2_max_concurrent_streams = max_streams
    config.graceful_timeout = 0.2
    config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
        else:
            writer.close()
            break
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        stop.set()
        await server


class Seen:
    """What a test app saw: the TCP connection (client port) and HTTP version of each request."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.versions: list[str] = []
        self.in_flight = self.most_in_flight = 0

    def note(self, request: Request) -> None:
        self.ports.append(request.scope["client"][1])
        self.versions.append(request.scope["http_version"])


def events_app(seen: Seen, count: int = 5, gap: float = 0.01) -> Starlette:
    """``/events``: ``count`` SSE events, ``gap`` seconds apart."""
    async def events(request: Request) -> Response:
        seen.note(request)

        async def frames() -> AsyncIterator[bytes]:
            seen.in_flight += 1
            seen.most_in_flight = max(seen.most_in_flight, seen.in_flight)
            try:
                for n in range(count):
                    yield f"data: {n}\n\n".encode()
                    await asyncio.sleep(gap)
            finally:
                seen.in_flight -= 1
        return StreamingResponse(frames(), media_type="text/event-stream")
    return Starlette(routes=[Route("/events", events)])


def expected_events(count: int = 5) -> bytes:
    return b"".join(f"data: {n}\n\n".encode() for n in range(count))


async def test_a_streamed_response_arrives_exactly_over_http2_as_the_network_delivers_it(
        ca: trustme.CA, tmp_path: Path) -> None:
    seen = Seen()
    async with hypercorn(events_app(seen, gap=0.02), ca, tmp_path) as url, h2_client(ca) as client, \
            client.stream("GET", url + "/events") as reply:
        pieces = [piece async for piece in reply.aiter_raw()]
    assert reply.http_version == "HTTP/2"
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert b"".join(pieces) == expected_events()
    assert len(pieces) == 5  # one piece per event: each came in its own network read
    assert seen.versions == ["2"]


async def test_fifty_concurrent_streams_share_one_connection(ca: trustme.CA, tmp_path: Path) -> None:
    seen = Seen()
    async with hypercorn(events_app(seen, count=3, gap=0.05), ca, tmp_path) as url, h2_client(ca) as client:
        replies = await asyncio.gather(*(client.get(url + "/events") for _ in range(50)))
    assert [reply.content for reply in replies] == [expected_events(3)] * 50
    assert len(set(seen.ports)) == 1
    assert seen.most_in_flight > 25  # they ran side by side, not one after another


async def test_a_new_connection_opens_when_the_servers_stream_limit_is_reached(
        ca: trustme.CA, tmp_path: Path) -> None:
    seen = Seen()
    async with hypercorn(events_app(seen, count=3, gap=0.05), ca, tmp_path, max_streams=10) as url, \
            h2_client(ca) as client:
        replies = await asyncio.gather(*(client.get(url + "/events") for _ in range(25)))
    assert [reply.content for reply in replies] == [expected_events(3)] * 25
    assert len(set(seen.ports)) == 3


async def test_a_5_mb_response_read_slowly_arrives_whole_and_the_server_waits_for_the_reader(
        ca: trustme.CA, tmp_path: Path) -> None:
    block = random.Random(5).randbytes(64 << 10)

    async def big(request: Request) -> Response:
        async def blocks() -> AsyncIterator[bytes]:
            for n in range(80):  # 5 MiB
                yield bytes([n]) + block[1:]
        return StreamingResponse(blocks())

    transport = h2_transport(ca)
    async with hypercorn(Starlette(routes=[Route("/big", big)]), ca, tmp_path) as url:
        reply = await transport.handle_async_request(httpx.Request("GET", url + "/big", extensions={
            "timeout": TIMEOUT.as_dict()}))
        assert isinstance(reply.stream, Http2Body)
        chunks = aiter(reply.stream)
        pieces = [await anext(chunks)]
        await asyncio.sleep(0.3)  # the reader stalls: the server must stop, not fill our memory
        held = reply.stream.buffered
        async for piece in chunks:
            pieces.append(piece)
            await asyncio.sleep(0.002)
        await reply.aclose()
        await transport.aclose()
    assert b"".join(pieces) == b"".join(bytes([n]) + block[1:] for n in range(80))
    # What arrived while the reader slept: the stream's window (less the first piece), not 5 MiB.
    assert STREAM_WINDOW // 2 < held <= STREAM_WINDOW
    assert max(map(len, pieces)) <= STREAM_WINDOW


async def digest(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                         "http_version": request.scope["http_version"]})


@pytest.mark.parametrize("path", ["client", "post"])
async def test_a_3_mb_request_body_arrives_whole_within_the_servers_flow_control(
        path: str, ca: trustme.CA, tmp_path: Path) -> None:
    body = orjson.dumps({"input": [{"type": "input_image",
                                    "image_url": random.Random(3).randbytes(1_100_000).hex()}]})
    assert len(body) > 2_000_000  # far beyond hypercorn's 64 KiB initial windows
    transport = h2_transport(ca)
    async with hypercorn(Starlette(routes=[Route("/up", digest, methods=["POST"])]), ca, tmp_path) as url:
        if path == "client":
            async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client:
                reply = await client.post(url + "/up", content=body)
                answer = reply.json()
        else:
            reply = await transport.post(url + "/up", {"content-type": "application/json"}, body,
                                         TIMEOUT.as_dict())
            answer = orjson.loads(await reply.aread())
            await transport.aclose()
    assert answer == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(), "http_version": "2"}


async def test_a_tls_server_offering_only_http_1_1_is_spoken_to_over_http_1_1(
        ca: trustme.CA, tmp_path: Path) -> None:
    seen = Seen()
    async with hypercorn(events_app(seen, count=2), ca, tmp_path, alpn=("http/1.1",)) as url, \
            h2_client(ca) as client:
        replies = [await client.get(url + "/events") for _ in range(3)]
        concurrent = await asyncio.gather(*(client.get(url + "/events") for _ in range(3)))
    assert [reply.http_version for reply in replies + concurrent] == ["HTTP/1.1"] * 6
    assert [reply.content for reply in replies + concurrent] == [expected_events(2)] * 6
    assert seen.versions == ["1.1"] * 6
    assert len(set(seen.ports[:3])) == 1  # kept alive between sequential requests


async def test_a_responses_stream_from_the_fake_codex_backend_over_http2(
        ca: trustme.CA, tmp_path: Path) -> None:
    backend = FakeCodex()
    body = {"model": "gpt-5.4", "stream": True, "store": False, "instructions": "", "input": "hi"}
    headers = {"authorization": "Bearer tok-a", "accept": "text/event-stream"}
    async with hypercorn(backend.app, ca, tmp_path) as url, h2_client(ca) as client, \
            client.stream("POST", url + "/backend-api/codex/responses", json=body, headers=headers) as reply:
        raw = b"".join([piece async for piece in reply.aiter_raw()])
    assert reply.status_code == 200 and reply.http_version == "HTTP/2"
    assert reply.headers["x-codex-primary-used-percent"] == "12.5"
    types = [line[7:].decode() for line in raw.splitlines() if line.startswith(b"event: ")]
    assert types == [event["type"] for event in codex_events.text_stream()]
    assert backend.inference_requests()[0].http_version == "2"
    assert backend.stream_ends == ["completed"]


# --- a scripted HTTP/2 server -------------------------------------------------------------------


class Peer:
    """The server's side of one connection; handlers answer through it."""

    def __init__(self, index: int, writer: asyncio.StreamWriter) -> None:
        self.index, self.writer = index, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.resets: dict[int, int] = {}  # stream id -> error code, as the client reset them
        self.received = bytearray()  # every byte from the client, decrypted

    def flush(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(self.h2.data_to_send())

    def respond(self, stream_id: int, data: bytes = b"", end: bool = True) -> None:
        self.h2.send_headers(stream_id, [(b":status", b"200")])
        self.send(stream_id, data, end)

    def send(self, stream_id: int, data: bytes, end: bool = False) -> None:
        self.h2.send_data(stream_id, data, end_stream=end)
        self.flush()

    def reset(self, stream_id: int, code: ErrorCodes) -> None:
        self.h2.reset_stream(stream_id, code)
        self.flush()

    def goaway(self, last_stream_id: int) -> None:
        """Written raw: h2's own server side would refuse to send anything after it."""
        self.writer.write(GoAwayFrame(0, last_stream_id=last_stream_id).serialize())


Handler = Callable[[Peer, int, str], Coroutine[Any, Any, None]]


class ScriptedServer:
    """A TLS HTTP/2 server on h2's server side; ``handler(peer, stream_id, path)`` answers each
    request once its body is in."""

    def __init__(self, ca: trustme.CA, handler: Handler, max_streams: int = 100,
                 settings_delay: float = 0.0) -> None:
        self._max_streams, self._settings_delay = max_streams, settings_delay
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self._context)
        self._context.set_alpn_protocols(["h2"])
        self._handler = handler
        self.peers: list[Peer] = []
        self.requests: list[tuple[int, str, dict[bytes, bytes]]] = []  # connection, path, headers
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context)
        self.url = f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for peer in self.peers:
            peer.writer.close()
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(len(self.peers) + 1, writer)
        self.peers.append(peer)
        await asyncio.sleep(self._settings_delay)  # a server far away: its SETTINGS come late
        peer.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self._max_streams})
        peer.h2.initiate_connection()
        peer.flush()
        paths: dict[int, str] = {}
        try:
            while data := await reader.read(65536):
                peer.received += data
                for event in peer.h2.receive_data(data):
                    self._on_event(peer, event, paths)
                peer.flush()
        except (ConnectionError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        writer.close()

    def _on_event(self, peer: Peer, event: h2.events.Event, paths: dict[int, str]) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = dict(event.headers)
            paths[event.stream_id] = headers[b":path"].decode()
            self.requests.append((peer.index, paths[event.stream_id], headers))
        elif isinstance(event, h2.events.DataReceived):
            peer.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            task = asyncio.create_task(self._handler(peer, event.stream_id, paths[event.stream_id]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event, h2.events.StreamReset):
            peer.resets[event.stream_id] = event.error_code


async def answer_ok(peer: Peer, stream_id: int, path: str) -> None:
    await asyncio.sleep(0.05)
    peer.respond(stream_id, b"ok " + path.encode())


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def read_all(client: httpx.AsyncClient, url: str, received: bytearray | None = None) -> bytes:
    async with client.stream("GET", url) as reply:
        async for piece in reply.aiter_raw():
            if received is not None:
                received += piece
    return bytes(received) if received is not None else b""


async def test_requests_wait_for_a_new_connections_stream_limit_before_sharing_it(ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        await asyncio.sleep(0.2)
        peer.respond(stream_id, b"ok")

    async def late(n: int) -> httpx.Response:
        await asyncio.sleep(0.02)  # the connection is up, its SETTINGS not yet in
        return await client.get(f"{server.url}/{n}")

    async with ScriptedServer(ca, handler, max_streams=2, settings_delay=0.05) as server, h2_client(ca) as client:
        replies = await asyncio.gather(client.get(f"{server.url}/0"), client.get(f"{server.url}/1"),
                                       late(2), late(3), late(4))
    assert [reply.content for reply in replies] == [b"ok"] * 5
    # Each opener's request went at once; the others waited for the limit (2), then shared.
    assert sorted(Counter(connection for connection, _, _ in server.requests).values()) == [1, 2, 2]


async def test_a_reset_stream_fails_its_request_only(ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        if path == "/reset":
            peer.respond(stream_id, b"partial", end=False)
            await asyncio.sleep(0.02)
            peer.reset(stream_id, ErrorCodes.INTERNAL_ERROR)
        else:
            await answer_ok(peer, stream_id, path)

    received = bytearray()
    async with ScriptedServer(ca, handler) as server, h2_client(ca) as client:
        results = await asyncio.gather(read_all(client, server.url + "/reset", received),
                                       *(client.get(f"{server.url}/ok{n}") for n in range(5)),
                                       return_exceptions=True)
        after = await client.get(server.url + "/after")
    assert isinstance(results[0], httpx.RemoteProtocolError)
    assert "INTERNAL_ERROR" in str(results[0])
    assert received == b"partial"
    replies = [reply.content if isinstance(reply, httpx.Response) else reply for reply in results[1:]]
    assert replies == [f"ok /ok{n}".encode() for n in range(5)]
    assert after.content == b"ok /after"
    assert len(server.peers) == 1


async def test_a_connection_cut_mid_stream_raises_read_error_and_the_next_request_opens_another(
        ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        if path == "/cut":
            peer.respond(stream_id, b"first half", end=False)
            await asyncio.sleep(0.05)
            peer.writer.close()
        else:
            await answer_ok(peer, stream_id, path)

    received = bytearray()
    async with ScriptedServer(ca, handler) as server, h2_client(ca) as client:
        with pytest.raises(httpx.ReadError):
            await read_all(client, server.url + "/cut", received)
        after = await client.get(server.url + "/after")
    assert received == b"first half"
    assert after.content == b"ok /after"
    assert [(connection, path) for connection, path, _ in server.requests] == [(1, "/cut"), (2, "/after")]


async def test_a_reader_that_closes_early_resets_its_stream_and_leaves_the_connection_to_others(
        ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        if path != "/endless":
            return await answer_ok(peer, stream_id, path)
        peer.respond(stream_id, b"tick\n", end=False)
        while stream_id not in peer.resets:
            await asyncio.sleep(0.01)
            peer.send(stream_id, b"tick\n")

    async with ScriptedServer(ca, handler) as server, h2_client(ca) as client:
        other = asyncio.create_task(client.get(server.url + "/other"))
        async with client.stream("GET", server.url + "/endless") as reply:
            async for _ in reply.aiter_raw():
                break
        await until(lambda: bool(server.peers[0].resets))
        assert (await other).content == b"ok /other"
        after = await client.get(server.url + "/after")
    assert list(server.peers[0].resets.values()) == [ErrorCodes.CANCEL]
    assert after.content == b"ok /after"
    assert len(server.peers) == 1


async def test_goaway_lets_accepted_streams_finish_and_sends_the_others_again_on_a_new_connection(
        ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        if peer.index > 1:
            return await answer_ok(peer, stream_id, path)
        if path == "/first":
            await until(lambda: len(server.requests) == 2)  # the second request is in flight too
            peer.goaway(last_stream_id=stream_id)
            peer.respond(stream_id, b"finished ", end=False)
            await asyncio.sleep(0.02)
            peer.send(stream_id, b"after goaway", end=True)
        # /second on the first connection: above last_stream_id, never processed

    async with ScriptedServer(ca, handler) as server, h2_client(ca) as client:
        first = asyncio.create_task(read_all(client, server.url + "/first", bytearray()))
        await until(lambda: len(server.requests) == 1)
        second = await client.get(server.url + "/second")
        later = await client.get(server.url + "/later")
        assert await first == b"finished after goaway"
    assert second.content == b"ok /second"
    assert later.content == b"ok /later"
    assert [(connection, path) for connection, path, _ in server.requests] == [
        (1, "/first"), (1, "/second"), (2, "/second"), (2, "/later")]


async def test_a_refused_stream_is_sent_once_more(ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        if len(server.requests) == 1:
            peer.reset(stream_id, ErrorCodes.REFUSED_STREAM)
        else:
            await answer_ok(peer, stream_id, path)

    async with ScriptedServer(ca, handler) as server, h2_client(ca) as client:
        reply = await client.get(server.url + "/again")
    assert reply.content == b"ok /again"
    assert [path for _, path, _ in server.requests] == ["/again", "/again"]


async def test_a_silent_server_times_out_the_read_and_the_connection_serves_the_next(
        ca: trustme.CA) -> None:
    async def handler(peer: Peer, stream_id: int, path: str) -> None:
        if path != "/silent":
            await answer_ok(peer, stream_id, path)

    async with ScriptedServer(ca, handler) as server, h2_client(ca) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url + "/silent", timeout=httpx.Timeout(5, read=0.2))
        after = await client.get(server.url + "/after")
        await until(lambda: bool(server.peers[0].resets))
    assert after.content == b"ok /after"
    assert server.peers[0].resets == {1: ErrorCodes.CANCEL}
    assert len(server.peers) == 1


async def test_an_idle_connection_expires(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http2, "KEEPALIVE_EXPIRY_SECONDS", 0.05)
    async with ScriptedServer(ca, answer_ok) as server, h2_client(ca) as client:
        assert (await client.get(server.url + "/1")).content == b"ok /1"
        await asyncio.sleep(0.1)
        assert (await client.get(server.url + "/2")).content == b"ok /2"
        await until(lambda: server.peers[0].writer.is_closing())
    assert [connection for connection, _, _ in server.requests] == [1, 2]


async def test_the_request_head_drops_connection_fields_and_refuses_line_breaks(ca: trustme.CA) -> None:
    transport = h2_transport(ca)
    async with ScriptedServer(ca, answer_ok) as server, \
            httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client:
        await client.post(server.url + "/head?q=1", content=b"{}", headers={
            "Connection": "keep-alive", "Keep-Alive": "timeout=5", "X-Custom": "kept"})
        with pytest.raises(httpx.LocalProtocolError):
            await transport.post(server.url + "/", {"session_id": "a\r\nx-injected: 1"}, b"{}", TIMEOUT.as_dict())
    [(_, path, headers)] = server.requests
    assert path == "/head?q=1"
    assert headers[b":authority"] == server.url[8:].encode() and headers[b":scheme"] == b"https"
    assert headers[b"x-custom"] == b"kept" and headers[b"content-length"] == b"2"
    assert not {b"connection", b"keep-alive", b"host"} & headers.keys()


async def test_a_closed_port_is_a_connect_error(ca: trustme.CA) -> None:
    async with h2_client(ca) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"https://127.0.0.1:{free_port()}/")


async def test_a_server_that_never_sends_its_settings_fails_the_request_instead_of_hanging(
        ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http2, "SETTINGS_TIMEOUT_SECONDS", 0.1)
    async with ScriptedServer(ca, answer_ok, settings_delay=0.3) as server, h2_client(ca) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="SETTINGS"):
            await client.get(server.url + "/")


async def test_a_long_bearer_token_goes_out_whole_and_without_huffman_coding(ca: trustme.CA) -> None:
    token = "eyJ" + random.Random(9).randbytes(1500).hex()  # a ChatGPT access token is ~2 KB
    transport = h2_transport(ca)
    async with ScriptedServer(ca, answer_ok) as server:
        for _ in range(2):
            reply = await transport.post(server.url + "/r", {"authorization": f"Bearer {token}"}, b"{}",
                                         TIMEOUT.as_dict())
            await reply.aclose()
        await transport.aclose()
    assert [headers[b"authorization"] for _, _, headers in server.requests] == [f"Bearer {token}".encode()] * 2
    # Huffman coding it is pure Python (~0.5 ms a request); never-indexed, it goes whole each time.
    assert server.peers[0].received.count(token.encode()) == 2
