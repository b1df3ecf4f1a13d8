"""HTTP/2 toward a TLS upstream, proven against a TLS fake served by hypercorn (h2 over ALPN)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import free_port
from tests.helpers import run_proxy


@pytest.fixture
def tls_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeCodex, str]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    backend, port = FakeCodex(), free_port()
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(cert_file), str(key_file)
    config.alpn_protocols = ["h2", "http/1.1"]
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def main() -> None:
        started.set()
        await serve(backend.app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield backend, f"https://127.0.0.1:{port}/backend-api/codex"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)


def test_tls_upstream_is_spoken_over_http2(tls_fake: tuple[FakeCodex, str], auth_dir: Path) -> None:
    backend, url = tls_fake
    with run_proxy(auth_dir, url) as proxy:
        sdk = openai.OpenAI(base_url=proxy.v1, api_key="unused", max_retries=0)
        reply = sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello"
    assert backend.inference_requests()[0].http_version == "2"


def test_tls_upstream_is_spoken_over_http1_when_http2_is_off(tls_fake: tuple[FakeCodex, str],
                                                              auth_dir: Path) -> None:
    backend, url = tls_fake
    with run_proxy(auth_dir, url, upstream={"http2": False}) as proxy:
        sdk = openai.OpenAI(base_url=proxy.v1, api_key="unused", max_retries=0)
        first = sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
        second = sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "again"}])
    assert first.choices[0].message.content == second.choices[0].message.content == "Hello"
    assert [request.http_version for request in backend.inference_requests()] == ["1.1", "1.1"]
