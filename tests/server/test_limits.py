"""The front door's limits, hit over real sockets: each answered in the client's dialect, before any key
check where the head is concerned, and slow or idle connections closed."""

from __future__ import annotations

import gzip
import json
import select
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, run_proxy

KEY = {"authorization": "Bearer sk-local-1"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
LIMITS = {"request-body-bytes": 64 * 1024, "request-decoded-bytes": 256 * 1024, "request-head-bytes": 4096,
          "request-header-count": 20, "request-head-seconds": 1.0, "client-idle-seconds": 1.0}


@pytest.fixture
def limited(fake: FakeCodex, auth_dir: Path) -> Iterator[Proxy]:
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_proxy(auth_dir, upstream, **{"api-keys": ["sk-local-1"], "limits": LIMITS}) as running:
        yield running


def connect(proxy: Proxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])), timeout=10)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the one answer on ``sock``, read until the server closes it."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def closed_within(sock: socket.socket, seconds: float, keep_sending: bytes = b"") -> bool:
    """True when the server closes ``sock`` within ``seconds``, one byte of ``keep_sending`` a tick."""
    end = time.monotonic() + seconds
    position = 0
    while time.monotonic() < end:
        readable, _, _ = select.select([sock], [], [], 0.2)
        try:
            if readable and not sock.recv(4096):
                return True
            if position < len(keep_sending):
                sock.send(keep_sending[position:position + 1])
                position += 1
        except OSError:
            return True
    return False


def test_a_head_over_the_limit_is_a_431_in_the_dialect_before_the_key_is_checked(limited: Proxy) -> None:
    # Given a client sending a request head of 16 KiB, without a key, to the Anthropic route
    with connect(limited) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 16384 + b"\r\n")
        # Then it is refused with 431 in Anthropic's shape, and the connection closed
        status, body = read_answer(sock)
    assert status == 431
    assert body["type"] == "error" and "4096 bytes" in body["error"]["message"]


def test_too_many_header_lines_are_a_431(limited: Proxy) -> None:
    headers = {f"x-h{n}": "v" for n in range(30)}
    response = httpx.post(limited.v1 + "/chat/completions", json=CHAT, headers={**KEY, **headers})
    assert response.status_code == 431
    assert "20 header lines" in response.json()["error"]["message"]


def test_a_head_within_the_limits_is_served(limited: Proxy) -> None:
    headers = {f"x-h{n}": "v" * 100 for n in range(10)}
    assert httpx.post(limited.v1 + "/chat/completions", json=CHAT, headers={**KEY, **headers}).status_code == 200


def test_a_slowloris_client_is_disconnected_after_the_head_timeout(limited: Proxy) -> None:
    # Given a client that sends its head one byte at a time, five bytes a second
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 200
    with connect(limited) as sock:
        # Then the server closes it well before the head could ever be complete
        assert closed_within(sock, 10, keep_sending=head)


def test_a_connection_that_never_sends_and_an_idle_keepalive_are_closed(limited: Proxy) -> None:
    with connect(limited) as silent:
        assert closed_within(silent, 10)
    with connect(limited) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b" 200 " in idle.recv(4096)
        assert closed_within(idle, 10)


def test_a_declared_body_over_the_limit_is_a_413_before_it_is_sent(limited: Proxy) -> None:
    with connect(limited) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-local-1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert b" 413 " in answer.split(b"\r\n", 1)[0] and b"request_too_large" in answer


def test_a_body_still_arriving_after_its_413_closes_the_connection(limited: Proxy) -> None:
    # Given a client that declares 1 MB against a 64 KiB limit and keeps sending it after the answer
    with connect(limited) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-local-1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 4096)
        sock.settimeout(10)
        assert b" 413 " in sock.recv(65536).split(b"\r\n", 1)[0]
        # Then the server hangs up instead of reading the rest to keep the connection alive
        assert closed_within(sock, 3, keep_sending=b"x" * 100)


def test_a_chunked_body_over_the_limit_is_a_413(limited: Proxy) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "gpt-5.4", "input": "'
        for _ in range(10):
            yield b"x" * 16384
        yield b'"}'

    response = httpx.post(limited.v1 + "/responses", content=chunks(), headers=KEY)
    assert response.status_code == 413 and "body" in response.json()["error"]["message"]


@pytest.mark.parametrize("coding", ["gzip", "deflate", "zstd"])
def test_a_compression_bomb_is_a_413_for_every_coding(limited: Proxy, coding: str) -> None:
    # Given a body of 64 MiB of spaces inside valid JSON, compressed to a few KiB
    raw = b'{"model": "gpt-5.4", "input": "hi"' + b" " * (64 << 20) + b"}"
    compress: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress, "deflate": zlib.compress, "zstd": zstandard.ZstdCompressor().compress}
    packed = compress[coding](raw)
    assert len(packed) < 64 * 1024
    # When it is sent with its Content-Encoding
    response = httpx.post(limited.v1 + "/responses", content=packed,
                          headers={**KEY, "content-type": "application/json", "content-encoding": coding})
    # Then it is refused at the decoded limit
    assert response.status_code == 413 and "decompressed" in response.json()["error"]["message"]


@pytest.mark.parametrize("depth", [150, 300, 2000])
def test_json_nested_past_the_limit_is_a_400_in_the_dialect(proxy: Proxy, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    responses = httpx.post(proxy.v1 + "/responses", headers=KEY,
                           content=f'{{"model":"gpt-5.4","input":{nested}}}'.encode())
    messages = httpx.post(proxy.v1 + "/messages", headers=KEY,
                          content=f'{{"model":"gpt-5.4","max_tokens":5,"messages":{nested}}}'.encode())
    assert responses.status_code == 400 and "nests deeper than 128" in responses.json()["error"]["message"]
    assert messages.status_code == 400 and messages.json()["type"] == "error"


def test_json_nested_within_the_limit_is_served(proxy: Proxy) -> None:
    nested: Any = "hi"
    for _ in range(100):
        nested = {"a": nested}
    response = httpx.post(proxy.v1 + "/chat/completions", headers=KEY, json={**CHAT, "metadata_extra": nested})
    assert response.status_code == 200
