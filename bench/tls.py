"""``python -m bench.tls``: cliproxy's CPU per upstream event when the upstream speaks TLS.

chatgpt.com is reached over TLS, with HTTP/2 when offered (the default); the main
benchmark's fake speaks plain HTTP/1.1. Here nginx (TLS, HTTP/2 by ALPN, certificates from
trustme) fronts the same fake, and cliproxy is measured three ways: plain http, TLS with
``upstream.http2: false`` (HTTP/1.1) and TLS with the default (HTTP/2). Chat stream, 200 deltas,
200 requests at concurrency 1 and 10, every response checked; servers pinned as in the main run.
TTFT is absolute (client → cliproxy → nginx → fake and back), so rows compare with each other.
Needs nginx and the test extras (trustme); prints one markdown table.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
from pathlib import Path

import orjson
import trustme

from .codex_stream import events_per_stream
from .loadgen import post_json, run_level
from .targets import (
    HOST,
    LOAD_CORE,
    NGINX_CONF,
    SERVER_CORE,
    Server,
    ensure_nginx,
    free_port,
    launch,
    pin_self,
    pinned,
    start_cliproxy,
    start_fake,
)
from .wire import WIRES

REQUESTS, DELTAS = 200, 200
# The main run's nginx, listening with TLS and offering HTTP/2.
_TLS_LISTEN = " ssl http2"
_TLS_SERVER = ("ssl_certificate {dir}/cert.pem; ssl_certificate_key {dir}/key.pem; "
               "http2_max_concurrent_streams 1000;")


def _certificates(directory: Path) -> Path:
    """A throwaway CA and a certificate for 127.0.0.1; returns the CA file cliproxy trusts."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "cert.pem"))
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    return directory / "ca.pem"


async def _tls_front(binary: str, fake_port: int, directory: Path) -> Server:
    port = free_port()
    conf = directory / "nginx.conf"
    server_options = _TLS_SERVER.format(dir=directory)
    conf.write_text(NGINX_CONF.format(dir=directory, fake=fake_port, port=port, user="",
                                      listen_options=_TLS_LISTEN, server_options=server_options))
    server = launch("nginx-tls", [*pinned(LOAD_CORE, True), binary, "-p", str(directory), "-c", str(conf),
                                   "-e", str(directory / "error.log")], directory)
    server.port = port
    for _ in range(50):  # nginx answers TLS only: wait for its port, not for an HTTP answer
        try:
            _, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return server
        except OSError:
            await asyncio.sleep(0.1)
    server.stop()
    raise SystemExit("nginx with TLS did not start (see its error.log)")


async def _measure(label: str, server: Server) -> list[str]:
    assert server.meter is not None
    await run_level(HOST, server.port, WIRES["chat"], requests=50, concurrency=10, delta_count=DELTAS)
    rows = []
    for concurrency in (1, 10):
        before = server.meter.cpu()
        level = await run_level(HOST, server.port, WIRES["chat"], requests=REQUESTS, concurrency=concurrency,
                                delta_count=DELTAS)
        per_event = (server.meter.cpu() - before) / (REQUESTS * events_per_stream(DELTAS)) * 1e6
        good = sum(result.ok for result in level.results)
        ttft = statistics.median(result.ttft for result in level.results if result.ok) * 1e3 if good else math.nan
        rows.append(f"| {label} | {concurrency} | {per_event:.1f} | {ttft:.2f} | {good}/{REQUESTS} |")
    return rows


async def _run(directory: Path) -> list[str]:
    binary, note = ensure_nginx(install=True)
    if binary is None:
        raise SystemExit(note)
    ca_file = _certificates(directory)
    fake = start_fake(True)
    pin_self(True)
    front = None
    rows: list[str] = []
    try:
        body = orjson.dumps({"delta_count": DELTAS, "first_delay": 0.0, "inter_delay": 0.0})
        await post_json(HOST, fake.port, "/_bench/profile", body)
        front = await _tls_front(binary, fake.port, directory)
        tls = f"https://{HOST}:{front.port}"
        for label, upstream, http2 in (("plain http, HTTP/1.1", "", True), ("TLS, HTTP/1.1", tls, False),
                                       ("TLS, HTTP/2 (default)", tls, True)):
            workdir = directory / label.split(",")[0].replace(" ", "-") / str(http2)
            workdir.mkdir(parents=True)
            server = await start_cliproxy(fake.port, workdir, True, product=True, upstream=upstream,
                                          config_extra=f"upstream:\n  http2: {str(http2).lower()}\n",
                                          env_extra={"SSL_CERT_FILE": str(ca_file)})
            try:
                rows += await _measure(label, server)
            finally:
                server.stop()
    finally:
        if front is not None:
            front.stop()
        fake.stop()
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cliproxy-tls-") as directory:
        rows = asyncio.run(_run(Path(directory)))
    header = ["| upstream | concurrency | CPU per upstream event (µs) | TTFT p50 (ms) | responses matching |",
              "|---|---|---|---|---|"]
    sys.stdout.write("\n".join([*header, *rows]) + f"\n\nServers pinned to core {SERVER_CORE}, nginx, fake "
                     f"and load to core {LOAD_CORE}; Chat stream, {DELTAS} deltas, {REQUESTS} requests per row.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
