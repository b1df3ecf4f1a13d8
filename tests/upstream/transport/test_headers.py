"""The one header check every way out shares: HTTP/1.1 (the proxy's POST and httpx's requests)
and HTTP/2 refuse the same names and values, before a byte is written."""

from __future__ import annotations

import httpx
import pytest

from cliproxy.upstream.transport.direct import DirectTransport
from cliproxy.upstream.transport.headers import HeaderRefused, header_block
from cliproxy.upstream.transport.http2_stream import request_fields
from tests.fakes.raw_http import RawServer, answer_all

BAD = [("x-v", "a\r\nb"), ("x-v", "a\nb"), ("x-v", "a\0b"), ("x-v", "a€b"), ("x v", "a"), ("x:v", "a"),
       ("", "a"), ("x\r\nv", "a")]
IDS = ["CRLF", "LF", "NUL", "not-latin-1", "space-in-name", "colon-in-name", "empty-name", "CRLF-in-name"]


@pytest.mark.parametrize("name, value", BAD, ids=IDS)
def test_the_proxys_own_headers_are_refused_over_http1(name: str, value: str) -> None:
    with pytest.raises(HeaderRefused):
        header_block({"accept": "text/event-stream", name: value})


@pytest.mark.parametrize("name, value", [pair for pair in BAD if pair[1] != "a€b"],
                         ids=[i for i in IDS if i != "not-latin-1"])
def test_the_same_headers_are_refused_over_http2(name: str, value: str) -> None:
    with pytest.raises(HeaderRefused):
        request_fields(b"POST", b"h", b"/", [(name.encode("latin-1"), value.encode("latin-1"))])


@pytest.mark.parametrize("value", [b"a\r\nx-smuggled: 1", b"a\0b"], ids=["CRLF", "NUL"])
async def test_a_request_from_httpxs_client_is_refused_before_anything_is_sent(value: bytes) -> None:
    async with RawServer(answer_all) as server, \
            httpx.AsyncClient(transport=DirectTransport(), timeout=httpx.Timeout(2)) as http:
        with pytest.raises(HeaderRefused):
            await http.get(server.url + "/", headers=[(b"x-value", value)])
        assert (await http.get(server.url + "/ok")).content == b"ok"
    assert [request.target for request in server.requests] == ["/ok"]


def test_ordinary_headers_pass_unchanged() -> None:
    assert header_block({"x-a": "é 1;q=0.5", "Authorization": "Bearer t"}) == \
        "x-a: é 1;q=0.5\r\nAuthorization: Bearer t\r\n".encode("latin-1")
