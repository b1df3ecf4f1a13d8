"""Which way inference leaves: an account's SOCKS5 proxy, ``ALL_PROXY=socks5://…``, ``direct`` over
the environment, and a ``proxy-url`` that cannot work refused when the config loads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from cliproxy.config.load import parse_config
from cliproxy.config.schema import ConfigError
from cliproxy.credential import Credential
from cliproxy.upstream.codex import CodexUpstream
from cliproxy.upstream.request import UpstreamRequest
from tests.fakes.raw_http import RawConnection, RawServer
from tests.fakes.socks5 import Socks5Proxy
from tests.upstream.streaming import event_types

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")
COMPLETED = (b'event: response.completed\ndata: {"type":"response.completed","response":'
             b'{"id":"r1","status":"completed","output":[]}}\n\n')


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def streaming(connection: RawConnection) -> None:
    while await connection.read_request() is not None:
        await connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(COMPLETED), COMPLETED))


@asynccontextmanager
async def codex_and_proxy() -> AsyncIterator[tuple[RawServer, Socks5Proxy]]:
    async with RawServer(streaming) as codex, Socks5Proxy() as proxy:
        yield codex, proxy


async def test_an_accounts_socks5_proxy_carries_its_inference() -> None:
    async with codex_and_proxy() as (codex, proxy):
        types = await event_types({}, codex.url, proxy_url=proxy.url)
    assert types == ["response.completed"]
    assert proxy.targets == [("127.0.0.1", codex.port)]
    assert [request.target for request in codex.requests] == ["/responses"]


async def test_all_proxy_socks5_from_the_environment_carries_inference(env: pytest.MonkeyPatch) -> None:
    async with codex_and_proxy() as (codex, proxy):
        env.setenv("ALL_PROXY", proxy.url)
        types = await event_types({}, codex.url)
    assert types == ["response.completed"]
    assert proxy.targets == [("127.0.0.1", codex.port)]


@pytest.mark.parametrize("where", ["config", "account"])
async def test_direct_goes_straight_to_the_upstream_whatever_the_environment_says(
        where: str, env: pytest.MonkeyPatch) -> None:
    async with codex_and_proxy() as (codex, proxy):
        env.setenv("ALL_PROXY", proxy.url)
        config = {"proxy-url": "socks5://127.0.0.1:9" if where == "account" else "direct"}
        types = await event_types(config, codex.url, proxy_url="none" if where == "account" else "")
    assert types == ["response.completed"]
    assert proxy.targets == []
    assert codex.connections == 1


async def test_a_reloaded_proxy_url_carries_the_next_request() -> None:
    async with codex_and_proxy() as (codex, proxy):
        upstream = CodexUpstream(parse_config({"proxy-url": "direct"}))
        account = Credential(id="a.json", kind="oauth", access_token="tok-a", base_url=codex.url)
        request = UpstreamRequest(body={"input": "hi"}, model="gpt-5.4", dialect="openai-responses")
        try:
            for config in ({"proxy-url": "direct"}, {"proxy-url": proxy.url}):
                upstream.configure(parse_config(config))
                async with upstream.stream(account, request) as opened:
                    assert [e async for batch in opened.batches() for e in batch]
        finally:
            await upstream.aclose()
    assert proxy.targets == [("127.0.0.1", codex.port)]  # the second request only


@pytest.mark.parametrize("value", ["ftp://user:hunter2@host:21", "hunter2", "socks4://user:hunter2@h:1"])
@pytest.mark.parametrize("where", ["top", "codex-api-key"])
def test_a_proxy_url_that_cannot_work_fails_the_load_without_quoting_it(value: str, where: str) -> None:
    raw: dict[str, Any] = {"proxy-url": value} if where == "top" else {
        "codex-api-key": [{"api-key": "sk-1", "base-url": "https://x", "proxy-url": value}]}
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert "proxy-url" in str(refused.value) and "hunter2" not in str(refused.value)


@pytest.mark.parametrize("value", ["", "direct", "none", "http://u:p@h:3128", "https://h:443", "socks5://h:1080",
                                   "socks5h://u:p@h:1080"])
def test_every_documented_proxy_url_loads(value: str) -> None:
    assert parse_config({"proxy-url": value}).proxy_url == value
