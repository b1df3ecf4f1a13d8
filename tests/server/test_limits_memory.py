"""Attacks that used to grow the server by hundreds of megabytes, replayed against a real ``cliproxy serve``:
its resident memory (VmRSS of the process) stays within a stated bound of where it started."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import write_account
from tests.serve_process import Server, serve

MiB = 1 << 20
BOUND = 100 * MiB  # generous: what each attack cost before was 150 MiB to over 1 GiB
CONFIG = """models:
  discovery: false
api-keys: [k1]
limits:
  request-body-bytes: 8388608
  request-decoded-bytes: 16777216
  client-buffer-bytes: 1048576
"""


@pytest.fixture
def server(tmp_path: Path, fake: FakeCodex) -> Iterator[Server]:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with serve(tmp_path, fake.url + "/backend-api/codex", CONFIG) as running:  # type: ignore[attr-defined]
        running.chat("k1")  # warm: every import a request needs is loaded before the baseline
        yield running


def rss(server: Server) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=30)


def send_until_refused(sock: socket.socket, head: bytes, body: Iterator[bytes]) -> bytes:
    """Send ``head`` then ``body`` while the server takes it; the answer it gave, if any."""
    try:
        sock.sendall(head)
        for chunk in body:
            sock.sendall(chunk)
    except OSError:
        pass
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def test_a_128_mib_request_head_is_refused_early(server: Server) -> None:
    before = rss(server)
    with connect(server) as sock:
        answer = send_until_refused(sock, b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ",
                                    (b"a" * MiB for _ in range(128)))
    assert answer == b"" or b" 431 " in answer
    assert rss(server) - before < BOUND


def test_a_128_mib_body_and_a_1_gib_gzip_bomb_cost_no_more_than_their_limits(server: Server) -> None:
    before = rss(server)
    with connect(server) as sock:
        head = (b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunks = (b"100000\r\n" + b"x" * MiB + b"\r\n" for _ in range(128))
        assert b" 413 " in send_until_refused(sock, head, chunks)
    bomb = gzip.compress(b'{"model": "gpt-5.4", "input": "hi"' + b" " * 1024 * MiB + b"}", 9)
    response = httpx.post(server.url + "/v1/responses", content=bomb, timeout=60,
                          headers={"authorization": "Bearer k1", "content-encoding": "gzip"})
    assert response.status_code == 413
    assert rss(server) - before < BOUND
    assert "limits.request-body-bytes" in server.log() and "limits.request-decoded-bytes" in server.log()


def test_a_client_that_stops_reading_does_not_make_the_server_buffer_the_answer(server: Server,
                                                                               fake: FakeCodex) -> None:
    # Given an answer of 192 MiB of text deltas that the backend sends as fast as it can
    parts = ["x" * (256 * 1024)] * 768
    deltas = ev.message_events(parts)[:2 + len(parts)]  # no done item: the answer is all in flight
    fake.script("tok-a", Reply(events=[*ev.preamble("gpt-5.4"), *deltas]))
    before = rss(server)
    # When a client asks for it and stops reading after the first bytes
    stop = threading.Event()

    def stalled_client() -> None:
        body = {"model": "gpt-5.4", "stream": True, "input": "hi"}
        with httpx.stream("POST", server.url + "/v1/responses", json=body, timeout=60,
                          headers={"authorization": "Bearer k1"}) as response:
            chunks = response.iter_raw()  # held: a dropped iterator would close the stream
            next(chunks)
            stop.wait(30)

    client = threading.Thread(target=stalled_client)
    client.start()
    try:
        time.sleep(3)  # without a bound, the server would hold most of the answer by now
        # Then the server holds a bounded part of it
        assert rss(server) - before < BOUND
    finally:
        stop.set()
        client.join()
