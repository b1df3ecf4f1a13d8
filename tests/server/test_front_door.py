"""What the server does before any translation: Host check, CORS, body encodings, WebSocket, headers."""

from __future__ import annotations

import gzip
import json
import socket
import time
from pathlib import Path

import httpx
import zstandard

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy

AUTH = {"authorization": "Bearer sk-local-1"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}


def upstream(fake: FakeCodex) -> str:
    return fake.url + "/backend-api/codex"  # type: ignore[attr-defined,no-any-return]


def test_foreign_host_rejected_in_open_mode(fake: FakeCodex, auth_dir: Path) -> None:
    with run_proxy(auth_dir, upstream(fake)) as proxy:
        evil = httpx.get(proxy.v1 + "/models", headers={"host": "evil.example:8317"})
        local = httpx.get(proxy.v1 + "/models", headers={"host": "localhost:8317"})
    assert evil.status_code == 403 and "allowed-hosts" in evil.json()["error"]["message"]
    assert local.status_code == 200


def test_foreign_host_accepted_with_allowed_hosts_or_keys(fake: FakeCodex, auth_dir: Path) -> None:
    with run_proxy(auth_dir, upstream(fake), **{"allowed-hosts": ["my-tunnel.example"]}) as proxy:
        assert httpx.get(proxy.v1 + "/models", headers={"host": "my-tunnel.example"}).status_code == 200
    with run_proxy(auth_dir, upstream(fake), **{"api-keys": ["k1"]}) as proxy:
        response = httpx.get(proxy.v1 + "/models", headers={"host": "evil.example", "authorization": "Bearer k1"})
        assert response.status_code == 200


def test_no_cors_headers_by_default(proxy: Proxy) -> None:
    response = httpx.get(proxy.v1 + "/models", headers={**AUTH, "origin": "https://evil.example"})
    preflight = httpx.options(proxy.v1 + "/chat/completions", headers={"origin": "https://evil.example",
                                                                       "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in response.headers
    assert preflight.status_code == 204 and "access-control-allow-origin" not in preflight.headers


def test_cors_only_for_listed_origins(fake: FakeCodex, auth_dir: Path) -> None:
    with run_proxy(auth_dir, upstream(fake), **{"cors-allow-origins": ["https://app.example"]}) as proxy:
        good = httpx.get(proxy.v1 + "/models", headers={"origin": "https://app.example"})
        bad = httpx.get(proxy.v1 + "/models", headers={"origin": "https://evil.example"})
    assert good.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in bad.headers


def test_zstd_and_gzip_request_bodies(proxy: Proxy, fake: FakeCodex) -> None:
    raw = json.dumps(CHAT).encode()
    for encoding, data in (("zstd", zstandard.ZstdCompressor().compress(raw)), ("gzip", gzip.compress(raw))):
        response = httpx.post(proxy.v1 + "/chat/completions", content=data,
                              headers={**AUTH, "content-type": "application/json", "content-encoding": encoding})
        assert response.status_code == 200, encoding
        assert response.json()["choices"][0]["message"]["content"] == "Hello"
    broken = httpx.post(proxy.v1 + "/chat/completions", content=b"not zstd",
                        headers={**AUTH, "content-encoding": "zstd"})
    assert broken.status_code == 400 and "zstd" in broken.json()["error"]["message"]


def test_websocket_upgrade_with_the_key_is_switched(proxy: Proxy) -> None:
    port = int(proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer sk-local-1\r\n\r\n")
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert b" 101 " in status_line


def test_codex_cli_headers_pass_through_and_client_auth_does_not(proxy: Proxy, fake: FakeCodex) -> None:
    headers = {**AUTH, "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm",
               "originator": "codex_exec", "session-id": "thread-1", "thread-id": "thread-1",
               "x-codex-window-id": "thread-1:0", "x-codex-turn-metadata": '{"turn_id":"t1"}',
               "x-codex-beta-features": "remote_compaction_v2", "x-client-request-id": "thread-1",
               "x-openai-internal-codex-responses-lite": "true", "cookie": "secret=1"}
    body = {"model": "gpt-5.4", "stream": True, "input": "hi", "prompt_cache_key": "thread-1"}
    with httpx.stream("POST", proxy.v1 + "/responses", json=body, headers=headers) as response:
        text = response.read().decode()
    sent = fake.inference_requests()[0].headers
    for name in ("session-id", "thread-id", "x-codex-window-id", "x-codex-turn-metadata",
                 "x-codex-beta-features", "x-client-request-id", "x-openai-internal-codex-responses-lite"):
        assert sent[name] == headers[name], name
    assert sent["originator"] == "codex_exec" and sent["user-agent"].startswith("codex_exec/0.169.0")
    assert sent["authorization"] == "Bearer tok-a" and "cookie" not in sent
    assert "session_id" not in sent  # the client's own session-id header wins, no second one
    assert "event: codex.rate_limits" not in text  # stripped on /v1/responses: the OpenAI SDKs reject it
    with httpx.stream("POST", proxy.url + "/backend-api/codex/responses", json=body, headers=headers) as native:
        assert "event: codex.rate_limits" in native.read().decode()  # kept on the Codex-native route


def test_keepalive_comments_during_slow_first_event(fake: FakeCodex, auth_dir: Path) -> None:
    fake.default = Reply(first_delay=1.2)
    with run_proxy(auth_dir, upstream(fake), streaming={"keepalive-seconds": 0.25}) as proxy, \
            httpx.stream("POST", proxy.v1 + "/chat/completions", json={**CHAT, "stream": True},
                         timeout=httpx.Timeout(5, read=0.8)) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines.count(": keep-alive") >= 3
    assert lines[-1] == "data: [DONE]"


def test_errors_before_commit_keep_their_status_under_keepalive(fake: FakeCodex, auth_dir: Path) -> None:
    fake.default = Reply(status=400, body={"error": {"message": "Invalid schema for function",
                                                     "type": "invalid_request_error"}})
    with run_proxy(auth_dir, upstream(fake), streaming={"keepalive-seconds": 5}) as proxy:
        response = httpx.post(proxy.v1 + "/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid schema for function"


def test_compact_is_json_in_json_out(proxy: Proxy, fake: FakeCodex) -> None:
    body = {"model": "gpt-5.4", "input": [{"type": "message", "role": "user", "content": "long history"}],
            "instructions": "compact it", "temperature": 1}
    response = httpx.post(proxy.v1 + "/responses/compact", json=body, headers=AUTH)
    assert response.status_code == 200 and response.json() == fake.compact_reply
    sent = fake.requests[-1]
    assert sent.path == "/backend-api/codex/responses/compact"
    assert sent.headers["accept"] == "application/json" and "stream" not in sent.body
    streaming = httpx.post(proxy.url + "/backend-api/codex/responses/compact", json={**body, "stream": True},
                           headers=AUTH)
    assert streaming.status_code == 400 and len(fake.requests) == 1


def test_responses_alias_under_backend_api(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script("tok-a", Reply(events=ev.text_stream(["ok"])))
    response = httpx.post(proxy.url + "/backend-api/codex/responses", headers=AUTH,
                          json={"model": "gpt-5.4", "input": "hi"})
    assert response.status_code == 200 and response.json()["output"][0]["content"][0]["text"] == "ok"


def test_healthz_needs_no_key(proxy: Proxy) -> None:
    assert httpx.get(proxy.url + "/healthz").json() == {"status": "ok"}
    assert httpx.head(proxy.url + "/healthz").status_code == 200


def test_live_model_discovery_and_fallback_to_bundled(fake: FakeCodex, auth_dir: Path) -> None:
    fake.catalogue = {"models": [{"slug": "gpt-live-1", "display_name": "GPT Live", "context_window": 300000,
                                  "supported_reasoning_levels": [{"effort": "low"}, {"effort": "high"}],
                                  "visibility": "list", "supported_in_api": True}]}
    with run_proxy(auth_dir, upstream(fake), models={"discovery": True}) as proxy:
        deadline = time.monotonic() + 10
        while "gpt-live-1" not in (ids := model_ids(proxy)):
            assert time.monotonic() < deadline, ids
            time.sleep(0.05)
    catalogue_request = next(r for r in fake.requests if r.path.endswith("/models"))
    assert catalogue_request.headers["authorization"] == "Bearer tok-a"
    fake.catalogue = None
    with run_proxy(auth_dir, upstream(fake), models={"discovery": True}) as proxy:
        deadline = time.monotonic() + 10
        while sum(r.path.endswith("/models") for r in fake.requests) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ids = model_ids(proxy)
    assert "gpt-5.4" in ids and "gpt-live-1" not in ids


def model_ids(proxy: Proxy) -> list[str]:
    return [m["id"] for m in httpx.get(proxy.v1 + "/models").json()["data"]]


def test_codex_cli_catalogue_shape(proxy: Proxy) -> None:
    catalogue = httpx.get(proxy.v1 + "/models?client_version=0.169.0", headers=AUTH).json()
    slugs = {m["slug"] for m in catalogue["models"]}
    assert "gpt-5.4" in slugs
    assert all(m["supported_reasoning_levels"] for m in catalogue["models"])
