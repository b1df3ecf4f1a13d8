"""An HTTP/2 upstream that asks for answers faster than it reads them (PING and SETTINGS floods):
cut off with GOAWAY ENHANCE_YOUR_CALM, its requests failed as transport errors, our buffer bounded.

The connection is driven by h2's own server side over a transport that never drains, the way a
peer that stops reading looks from here; no socket, so every byte is counted."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import PingFrame, SettingsFrame

from cliproxy.config.limits import KiB, Limits, MiB
from cliproxy.upstream.transport.body import LimitExceeded
from cliproxy.upstream.transport.http2 import Http2Connection
from cliproxy.upstream.transport.http2_stream import request_fields

TIMEOUTS = httpx.Timeout(2).as_dict()
PING = PingFrame(0, opaque_data=b"flooding").serialize()
SETTINGS = SettingsFrame(0).serialize()


class NeverRead(asyncio.Transport):
    """A peer that reads nothing: every write stays in the buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = self.aborted = False

    def write(self, data: Any) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return len(self.written)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True


async def connected(limits: Limits) -> tuple[Http2Connection, NeverRead, h2.connection.H2Connection]:
    """A client connection past both prefaces, with one request waiting for its answer."""
    connection = Http2Connection(("https", "127.0.0.1", 443), limits)
    transport = NeverRead()
    connection.connection_made(transport)
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(bytes(transport.written))
    connection.data_received(server.data_to_send())
    return connection, transport, server


def goaway_code(server: h2.connection.H2Connection, written: bytes) -> int | None:
    """The error code of the GOAWAY the client sent, as the server reads it."""
    events = server.receive_data(written)
    return next((e.error_code for e in events if isinstance(e, h2.events.ConnectionTerminated)), None)


@pytest.mark.parametrize("frame", [PING, SETTINGS], ids=["PING", "SETTINGS"])
async def test_a_control_frame_flood_is_cut_off_with_enhance_your_calm(frame: bytes) -> None:
    connection, transport, server = await connected(Limits(h2_control_frames_per_second=50))
    seen = len(transport.written)
    request = asyncio.create_task(connection.request(request_fields(b"GET", b"h", b"/", []), b"", TIMEOUTS))
    await asyncio.sleep(0)
    connection.data_received(frame * 200)
    with pytest.raises(LimitExceeded, match=r"limits\.h2-control-frames-per-second"):
        await request
    assert transport.aborted
    assert goaway_code(server, bytes(transport.written[seen:])) == ErrorCodes.ENHANCE_YOUR_CALM


async def test_a_few_pings_a_second_are_answered_as_usual() -> None:
    connection, transport, server = await connected(Limits())
    seen = len(transport.written)
    connection.data_received(PING * 5)
    events = server.receive_data(bytes(transport.written[seen:]))
    assert sum(isinstance(e, h2.events.PingAckReceived) for e in events) == 5
    assert not transport.closing


async def test_an_upstream_that_pings_and_never_reads_is_cut_off_at_the_buffer_limit() -> None:
    limits = Limits(h2_outbound_buffer_bytes=256 * KiB, h2_control_frames_per_second=10**9)
    tracemalloc.start()
    try:
        connection, transport, _ = await connected(limits)
        request = asyncio.create_task(connection.request(request_fields(b"GET", b"h", b"/", []), b"", TIMEOUTS))
        await asyncio.sleep(0)
        for _ in range(2000):  # 2000 reads of 100 PINGs: 3.4 MB of answers asked for
            if transport.closing:
                break
            connection.data_received(PING * 100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with pytest.raises(LimitExceeded, match=r"limits\.h2-outbound-buffer-bytes"):
        await request
    assert transport.aborted
    assert len(transport.written) < 256 * KiB + 64 * KiB  # one read's answers past the limit, at most
    assert peak < 100 * MiB


async def answered(limits: Limits, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    """One request, answered by the server with ``headers`` after ``:status``."""
    connection, transport, server = await connected(limits)
    seen = len(transport.written)
    request = asyncio.create_task(connection.request(request_fields(b"GET", b"h", b"/", []), b"", TIMEOUTS))
    await asyncio.sleep(0)
    for event in server.receive_data(bytes(transport.written[seen:])):
        if isinstance(event, h2.events.RequestReceived):
            server.send_headers(event.stream_id, [(b":status", b"200"), *headers], end_stream=True)
    connection.data_received(server.data_to_send())
    return await request


async def test_a_response_head_over_the_limit_fails_before_it_is_held() -> None:
    # Given an upstream answering with 80 KiB of header values against a 16 KiB limit
    big = [(b"x-filler-%d" % n, b"v" * 8000) for n in range(10)]
    # Then the request fails naming the key, and the connection is cut off
    with pytest.raises(LimitExceeded, match=r"limits\.upstream-head-bytes"):
        await answered(Limits(upstream_head_bytes=16 * KiB), big)


async def test_too_many_response_header_fields_fail_the_request() -> None:
    many = [(b"x-h%d" % n, b"v") for n in range(30)]
    with pytest.raises(LimitExceeded, match=r"limits\.upstream-header-count"):
        await answered(Limits(upstream_header_count=20), many)


async def test_a_response_head_within_the_limits_is_read() -> None:
    response = await answered(Limits(upstream_head_bytes=16 * KiB, upstream_header_count=20),
                              [(b"x-h%d" % n, b"v" * 100) for n in range(10)])
    assert response.status_code == 200 and response.headers["x-h9"] == "v" * 100
