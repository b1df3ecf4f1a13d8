"""What a broken or hostile HTTP/1.1 upstream may send: heads bounded as h11 bounds them, nothing
read past the end of a response, and connections per host capped (raw scripted servers)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import httpx
import pytest

from cliproxy.config.limits import Limits, MiB
from cliproxy.upstream.transport.body import LimitExceeded
from cliproxy.upstream.transport.direct import DirectTransport
from tests.fakes.raw_http import RawConnection, RawServer, answer_all, response

TIMEOUT = httpx.Timeout(5, read=2, pool=2)


def client(limits: Limits | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=DirectTransport(limits=limits), timeout=TIMEOUT)


async def flood_head(connection: RawConnection, piece: bytes, total: int) -> None:
    """A head that never ends: ``piece`` over and over, until ``total`` bytes or the client leaves."""
    if await connection.read_request() is None:
        return
    try:
        await connection.send(b"HTTP/1.1 200 OK\r\n")
        for _ in range(total // len(piece)):
            await connection.send(piece)
    except ConnectionError:
        pass


@pytest.mark.parametrize("piece", [b"a" * MiB, b"X-Filler: 0123456789\r\n" * 1000],
                         ids=["one-huge-header", "many-small-headers"])
async def test_a_256_mib_head_fails_fast_and_costs_little_memory(piece: bytes) -> None:
    async def handler(connection: RawConnection) -> None:
        await flood_head(connection, b"X-Huge: " + piece if piece[:1] == b"a" else piece, 256 * MiB)

    tracemalloc.start()
    started = time.monotonic()
    try:
        async with RawServer(handler) as server, client() as http:
            with pytest.raises(LimitExceeded) as caught:
                await http.get(server.url + "/")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10.0  # a hang check, not a timing: unbounded, this took 22 s
    assert peak < 100 * MiB
    assert "upstream-head-bytes" in str(caught.value) or "upstream-header-count" in str(caught.value)


async def test_more_header_lines_than_the_limit_are_refused_naming_the_key() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-N%d: v\r\n" % n for n in range(12)) + b"Content-Length: 0\r\n\r\n"

    async def handler(connection: RawConnection) -> None:
        while await connection.read_request() is not None:
            await connection.send(head)

    async with RawServer(handler) as server:
        async with client(Limits(upstream_header_count=10)) as http:
            with pytest.raises(LimitExceeded, match=r"limits\.upstream-header-count"):
                await http.get(server.url + "/")
        async with client(Limits(upstream_header_count=20)) as http:  # raised: the same answer passes
            assert (await http.get(server.url + "/")).status_code == 200


async def test_a_head_just_under_the_limit_passes() -> None:
    async def handler(connection: RawConnection) -> None:
        while await connection.read_request() is not None:
            await connection.send(response(b"ok", headers=("X-Big: " + "b" * 60_000,)))

    async with RawServer(handler) as server, client() as http:
        reply = await http.get(server.url + "/")
    assert reply.status_code == 200 and reply.content == b"ok"


async def test_bytes_after_the_end_of_a_response_are_not_part_of_it_and_spend_the_connection() -> None:
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"

    async def handler(connection: RawConnection) -> None:
        if connection.index == 1:
            if await connection.read_request() is not None:
                await connection.send(response(b"first") + smuggled)
                await connection.at_eof()
            return
        await answer_all(connection, b"second")

    async with RawServer(handler) as server, client() as http:
        first = await http.get(server.url + "/one")
        second = await http.get(server.url + "/two")
    assert first.content == b"first"
    assert second.content == b"second"  # not "evil!": that answer belonged to no request
    assert server.connections == 2


async def test_bytes_after_the_end_in_a_later_read_also_spend_the_connection() -> None:
    async def handler(connection: RawConnection) -> None:
        if connection.index == 1:
            if await connection.read_request() is not None:
                await connection.send(response(b"first"))
                await asyncio.sleep(0.05)
                await connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!")
                await connection.at_eof()
            return
        await answer_all(connection, b"second")

    async with RawServer(handler) as server, client() as http:
        async with http.stream("GET", server.url + "/one") as first:
            await asyncio.sleep(0.2)  # the extra bytes arrive before the body is closed
            assert await first.aread() == b"first"
        second = await http.get(server.url + "/two")
    assert second.content == b"second"
    assert server.connections == 2


# --- connections per host ---------------------------------------------------------------------


async def test_connections_per_host_are_capped_and_the_rest_wait_their_turn() -> None:
    release = asyncio.Event()
    open_now = peak = 0

    async def handler(connection: RawConnection) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while await connection.read_request() is not None:
                await release.wait()
                await connection.send(response(b"ok"))
        finally:
            open_now -= 1

    async with RawServer(handler) as server, client(Limits(upstream_connections_per_host=2)) as http:
        requests = [asyncio.create_task(http.get(f"{server.url}/{n}")) for n in range(6)]
        await asyncio.sleep(0.2)
        assert server.connections == 2  # four requests wait in line
        release.set()
        replies = await asyncio.gather(*requests)
    assert [reply.status_code for reply in replies] == [200] * 6
    assert peak == 2 and server.connections == 2


async def test_a_request_waits_for_a_connection_no_longer_than_its_pool_timeout() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await asyncio.sleep(10)  # holds the only slot

    transport = DirectTransport(limits=Limits(upstream_connections_per_host=1))
    async with RawServer(handler) as server, \
            httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, pool=0.2)) as http:
        hung = asyncio.create_task(http.get(server.url + "/hang"))
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.PoolTimeout, match="upstream-connections-per-host"):
            await http.get(server.url + "/next")
        hung.cancel()
    assert server.connections == 1


async def test_a_closed_connection_gives_its_slot_back() -> None:
    async def handler(connection: RawConnection) -> None:
        if await connection.read_request() is not None:
            await connection.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")

    transport = DirectTransport(limits=Limits(upstream_connections_per_host=1))
    async with RawServer(handler) as server, httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
        for _ in range(3):
            assert (await http.get(server.url + "/")).content == b"ok"
    assert server.connections == 3
    assert transport.slots.open_count(("http", "127.0.0.1", server.port)) == 0
