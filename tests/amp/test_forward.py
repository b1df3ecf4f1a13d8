"""The forward to ampcode.com: what leaves (headers, query, key), what comes back (gzip, streams, breaks)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from pathlib import Path

import httpx
import pytest

from cliproxy.config.load import parse_config
from cliproxy.config.snapshot import Snapshot
from cliproxy.server.app import build_app, build_services
from tests.amp.conftest import UPSTREAM_KEY, AmpProxy
from tests.fakes.amp import AmpReply, FakeAmp
from tests.fakes.serving import free_port
from tests.serve_process import wait_for

KEY = {"authorization": "Bearer k1"}


def write_secrets(home: Path, value: str) -> None:
    path = home / ".local/share/amp/secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)


def test_the_callers_credentials_and_fingerprints_stay_here(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    sent = {**KEY, "x-api-key": "k1", "x-goog-api-key": "k1", "x-forwarded-for": "1.2.3.4", "x-real-ip": "1.2.3.4",
            "via": "1.1 somewhere", "referer": "https://x.example", "sec-ch-ua": '"Chromium"',
            "x-stainless-os": "Linux", "accept-encoding": "br", "x-amp-thread-id": "T-1",
            "anthropic-beta": "context-1m-2025-08-07"}
    with amp_proxy(**{"upstream-url": amp.url, "upstream-api-key": UPSTREAM_KEY}) as proxy:
        httpx.get(proxy.url + "/api/threads", headers=sent)
    seen = amp.seen[0].headers
    assert seen["authorization"] == f"Bearer {UPSTREAM_KEY}" and seen["x-api-key"] == UPSTREAM_KEY
    for name in ("x-goog-api-key", "x-forwarded-for", "x-real-ip", "via", "referer", "sec-ch-ua", "x-stainless-os"):
        assert name not in seen
    assert seen["x-amp-thread-id"] == "T-1" and seen["anthropic-beta"] == "context-1m-2025-08-07"
    assert seen["host"] == amp.url.removeprefix("http://") and "br" not in seen["accept-encoding"]


def test_a_client_key_in_the_query_is_taken_out(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        httpx.get(proxy.url + "/api/threads?key=k1&key=keep&auth_token=k1&foo=bar", headers=KEY)
    assert amp.seen[0].query == "foo=bar&key=keep"


@pytest.mark.parametrize("config_key,env_key,file_key,expected", [
    ("up-1", "env-1", "file-1", "up-1"), ("", "env-1", "file-1", "env-1"), ("", "", "file-1", "file-1"),
    ("", "", "", None)])
def test_the_amp_key_is_the_configs_then_the_environments_then_amps_own_file(
        amp: FakeAmp, amp_proxy: AmpProxy, no_amp_secrets: Path, monkeypatch: pytest.MonkeyPatch,
        config_key: str, env_key: str, file_key: str, expected: str | None) -> None:
    if env_key:
        monkeypatch.setenv("AMP_API_KEY", env_key)
    if file_key:
        write_secrets(no_amp_secrets, json.dumps({"apiKey@https://ampcode.com/": file_key}))
    with amp_proxy(**{"upstream-url": amp.url, "upstream-api-key": config_key}) as proxy:
        httpx.get(proxy.url + "/api/user", headers=KEY)
    seen = amp.seen[0].headers
    assert seen.get("authorization") == (f"Bearer {expected}" if expected else None)
    assert seen.get("x-api-key") == expected


def test_amps_secrets_file_is_read_again_only_after_its_cache_time(
        amp: FakeAmp, amp_proxy: AmpProxy, no_amp_secrets: Path) -> None:
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        httpx.get(proxy.url + "/api/user", headers=KEY)  # no file yet: remembered as empty
        write_secrets(no_amp_secrets, json.dumps({"apiKey@https://ampcode.com/": "file-1"}))
        httpx.get(proxy.url + "/api/user", headers=KEY)
        proxy.services.amp.secrets.ttl = 0.0
        httpx.get(proxy.url + "/api/user", headers=KEY)
        proxy.services.amp.secrets.ttl = 300.0
        write_secrets(no_amp_secrets, json.dumps({"apiKey@https://ampcode.com/": "file-2"}))
        httpx.get(proxy.url + "/api/user", headers=KEY)
    assert [s.headers.get("x-api-key") for s in amp.seen] == [None, None, "file-1", "file-1"]


def test_a_broken_secrets_file_sends_no_key_and_says_so_without_its_content(
        amp: FakeAmp, amp_proxy: AmpProxy, no_amp_secrets: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_secrets(no_amp_secrets, '{bad json "amp-file-5d0e"')
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        assert httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 200
    assert "authorization" not in amp.seen[0].headers
    assert "secrets file" in caplog.text and "amp-file-5d0e" not in caplog.text


def test_each_client_key_can_have_its_own_amp_key(amp: FakeAmp, amp_proxy: AmpProxy,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    per_client = [{"upstream-api-key": "u1", "api-keys": ["k1"]}, {"upstream-api-key": "u2", "api-keys": ["k1", "k2"]}]
    with amp_proxy(api_keys=["k1", "k2", "k3"], **{"upstream-url": amp.url, "upstream-api-key": UPSTREAM_KEY,
                                                  "upstream-api-keys": per_client}) as proxy:
        for key in ("k1", "k2", "k3"):
            httpx.get(proxy.url + "/api/user", headers={"authorization": f"Bearer {key}"})
    assert [s.headers["x-api-key"] for s in amp.seen] == ["u1", "u2", UPSTREAM_KEY]
    assert "several entries" in caplog.text


def test_gzip_is_decoded_with_or_without_its_header(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    packed = gzip.compress(b'{"ok":true}')
    amp.script(AmpReply(body=packed), AmpReply(status=404, body=packed),
               AmpReply(body=packed, headers={"content-type": "application/json", "content-encoding": "gzip"}),
               AmpReply(body=packed[:10]), AmpReply(body=b"\x1f\x8bnotgzip"),
               AmpReply(body=packed, headers={"content-type": "text/event-stream"}))
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        answers = [httpx.get(proxy.url + "/api/user", headers=KEY) for _ in range(6)]
    hidden, hidden_404, declared, truncated, fake_magic, stream = answers
    assert hidden.content == b'{"ok":true}' and hidden.headers["content-length"] == "11"
    assert hidden_404.status_code == 404 and hidden_404.content == b'{"ok":true}'
    assert declared.content == b'{"ok":true}' and "content-encoding" not in declared.headers
    assert truncated.content == packed[:10] and fake_magic.content == b"\x1f\x8bnotgzip"
    assert stream.content == packed


def test_an_event_stream_reaches_the_client_as_it_is_sent(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    events = [f"data: {i}\n\n".encode() for i in range(5)]
    amp.script(AmpReply(chunks=events, pause=0.2, headers={"content-type": "text/event-stream"}))
    with amp_proxy(**{"upstream-url": amp.url}) as proxy, \
            httpx.stream("GET", proxy.url + "/api/threads/x", headers=KEY) as answer:
        pieces = answer.iter_raw()
        first = next(pieces)
        sent_when_first_arrived = amp.chunks_sent
        rest = b"".join(pieces)
    assert first == events[0] and sent_when_first_arrived < len(events)
    assert first + rest == b"".join(events)


def test_an_unreachable_upstream_is_a_502(amp_proxy: AmpProxy) -> None:
    with amp_proxy(**{"upstream-url": f"http://127.0.0.1:{free_port()}"}) as proxy:
        answer = httpx.get(proxy.url + "/api/user", headers=KEY)
    assert answer.status_code == 502 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": "amp_upstream_proxy_error", "message": "Failed to reach Amp upstream"}


def test_a_stream_cut_by_the_upstream_ends_with_nothing_appended(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    events = [b"data: 1\n\n", b"data: 2\n\n"]
    amp.script(AmpReply(chunks=events, cut=True, headers={"content-type": "text/event-stream"}))
    with amp_proxy(**{"upstream-url": amp.url}) as proxy, \
            httpx.stream("GET", proxy.url + "/api/threads/x", headers=KEY) as answer:
        received = b""
        try:
            for piece in answer.iter_raw():
                received += piece
        except httpx.HTTPError:
            pass
    assert received == b"".join(events)


def test_a_client_that_leaves_mid_stream_closes_the_upstream_stream_quietly(
        amp: FakeAmp, amp_proxy: AmpProxy, caplog: pytest.LogCaptureFixture) -> None:
    events = [f"data: {i}\n\n".encode() for i in range(50)]
    amp.script(AmpReply(chunks=events, pause=0.1, headers={"content-type": "text/event-stream"}))
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        with httpx.stream("GET", proxy.url + "/api/threads/x", headers=KEY) as answer:
            next(answer.iter_raw())
        wait_for(lambda: amp.streams_closed == 1, "the upstream stream to close")
    assert amp.chunks_sent < len(events)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("cliproxy")]


def test_an_upstream_base_path_prefixes_every_forwarded_path(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**{"upstream-url": amp.url + "/base"}) as proxy:
        httpx.get(proxy.url + "/api/user", headers=KEY)
    assert amp.paths() == ["/base/api/user"]


def test_management_routes_can_be_kept_to_this_machine(amp: FakeAmp, tmp_path: Path, auth_dir: Path) -> None:
    config = parse_config({"auth-dir": str(auth_dir), "api-keys": ["k1"], "models": {"discovery": False},
                           "ampcode": {"upstream-url": amp.url, "restrict-management-to-localhost": True}})
    app = build_app(build_services(Snapshot.build(config), "127.0.0.1"))

    async def call(peer: str, path: str, method: str = "GET") -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            answer = await client.request(method, path, headers={**KEY, "x-forwarded-for": "127.0.0.1"})
        return answer.status_code

    async def scenario() -> list[int]:
        return [await call("10.1.2.3", "/api/user"), await call("127.0.0.1", "/api/user"),
                await call("::1", "/api/user"), await call("10.1.2.3", "/api/provider/google/v1beta1/models")]

    assert asyncio.run(scenario()) == [403, 200, 200, 403]
    assert amp.paths() == ["/api/user", "/api/user"]


def test_no_secret_reaches_the_log(amp: FakeAmp, amp_proxy: AmpProxy, no_amp_secrets: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    write_secrets(no_amp_secrets, json.dumps({"apiKey@https://ampcode.com/": "amp-file-5d0e"}))
    with amp_proxy(api_keys=["client-key-9f31"], **{"upstream-url": amp.url, "upstream-api-key": "amp-up-77c2"}) as p:
        headers = {"authorization": "Bearer client-key-9f31"}
        httpx.get(p.url + "/api/user", headers=headers)
        httpx.post(p.url + "/api/provider/anthropic/v1/messages", headers=headers,
                   json={"model": "claude-opus-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert amp.seen
    for secret in ("client-key-9f31", "amp-up-77c2", "amp-file-5d0e"):
        assert secret not in caplog.text
