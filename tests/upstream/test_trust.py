"""Which CAs the proxy trusts toward the upstream and the issuer: an upstream signed by a private CA
(a corporate one that re-signs TLS) is refused by default and accepted with ``upstream.ca-file``,
directly and through a proxy; ``upstream.system-trust`` uses the system store and still takes the file."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme

from cliproxy.auth.refresh import Refresher
from cliproxy.auth.store import FileStore
from cliproxy.config.load import parse_config
from cliproxy.config.schema import ConfigError
from cliproxy.errors import ProxyError
from tests.auth.conftest import seed_account
from tests.auth.test_refresh import load
from tests.fakes.issuer import FakeIssuer
from tests.fakes.serving import serve_in_thread
from tests.fakes.socks5 import Socks5Proxy
from tests.upstream.streaming import event_types

COMPLETED = (b'event: response.completed\ndata: {"type":"response.completed","response":'
             b'{"id":"r1","status":"completed","output":[]}}\n\n')
ENVIRONMENT = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
               "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 over TLS: every request gets one completed stream."""
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(COMPLETED), COMPLETED))
    except (asyncio.IncompleteReadError, OSError, ssl.SSLError):
        writer.close()


@asynccontextmanager
async def tls_codex(ca: trustme.CA) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, ssl=context)
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@pytest.mark.parametrize("http2", [True, False], ids=["http2-offered", "http1-only"])
async def test_a_private_ca_is_refused_by_default_and_accepted_with_ca_file(ca: trustme.CA, ca_file: str,
                                                                            http2: bool) -> None:
    async with tls_codex(ca) as base:
        with pytest.raises(ProxyError) as refused:
            await event_types_with({"http2": http2}, base)
        accepted = await event_types_with({"http2": http2, "ca-file": ca_file}, base)
    assert refused.value.status == 502 and "ConnectError" in refused.value.message, refused.value.message
    assert accepted == ["response.completed"]


async def test_ca_file_applies_through_a_socks5_proxy(ca: trustme.CA, ca_file: str) -> None:
    async with tls_codex(ca) as base, Socks5Proxy() as proxy:
        with pytest.raises(ProxyError):
            await event_types_with({}, base, proxy_url=proxy.url)
        accepted = await event_types_with({"ca-file": ca_file}, base, proxy_url=proxy.url)
    assert accepted == ["response.completed"]
    assert len(proxy.targets) == 2


async def test_ca_file_applies_to_a_direct_way_out_ignoring_the_environment(ca: trustme.CA, ca_file: str) -> None:
    async with tls_codex(ca) as base:
        assert await event_types_with({"ca-file": ca_file}, base, proxy_url="direct") == ["response.completed"]


async def test_system_trust_does_not_know_a_private_ca_but_takes_ca_file_on_top(ca: trustme.CA, ca_file: str) -> None:
    async with tls_codex(ca) as base:
        with pytest.raises(ProxyError):
            await event_types_with({"system-trust": True}, base)
        accepted = await event_types_with({"system-trust": True, "ca-file": ca_file}, base)
    assert accepted == ["response.completed"]


def test_a_ca_file_that_is_not_a_pem_bundle_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("hello")
    for path in (tmp_path / "not.pem", tmp_path / "missing.pem"):
        with pytest.raises(ConfigError, match=r"upstream: ca-file"):
            parse_config({"upstream": {"ca-file": str(path)}})


# --- the issuer ------------------------------------------------------------------------------------


@pytest.fixture
def tls_issuer(ca: trustme.CA, tmp_path: Path) -> Iterator[FakeIssuer]:
    issued = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "issuer.pem", tmp_path / "issuer.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    issuer = FakeIssuer()
    with serve_in_thread(issuer.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        issuer.url = url.replace("http://", "https://")
        yield issuer


async def test_token_refresh_trusts_the_ca_file_too(tls_issuer: FakeIssuer, ca_file: str, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "auth")
    name, _ = seed_account(tls_issuer, store)
    results: list[str] = []
    for upstream in ({}, {"ca-file": ca_file}):
        config = parse_config({"auth-dir": str(tmp_path / "auth"), "oauth-issuer": tls_issuer.url,
                               "upstream": upstream})
        refresher = Refresher(config, None, store=store, retry_delays=())
        try:
            await refresher.refresh(load(config, store, name), force=True)
            results.append("refreshed")
        except ProxyError as exc:
            results.append(f"failed {exc.status}")
        finally:
            await refresher.aclose()
    assert results == ["failed 503", "refreshed"]
    assert len(tls_issuer.refresh_calls) == 1


async def event_types_with(upstream_keys: dict[str, Any], base_url: str, proxy_url: str = "") -> list[str]:
    """One streamed request with these ``upstream:`` settings."""
    return await event_types({"upstream": upstream_keys}, base_url, proxy_url)
