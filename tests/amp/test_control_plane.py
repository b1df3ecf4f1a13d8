"""Amp's control plane and pages: passed to ampcode.com with the Amp key, or answered here without one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.amp.conftest import UPSTREAM_KEY, AmpProxy
from tests.fakes.amp import AmpReply, FakeAmp
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import run_proxy

KEY = {"authorization": "Bearer k1"}


def rpc(proxy_url: str, name: str, params: object = None) -> httpx.Response:
    return httpx.post(f"{proxy_url}/api/internal?{name}", headers=KEY, json={"method": name, "params": params or {}})


def test_without_an_upstream_the_rpcs_of_a_classic_amp_run_are_answered_here(amp: FakeAmp,
                                                                              amp_proxy: AmpProxy) -> None:
    with amp_proxy() as proxy:
        user = rpc(proxy.url, "getUserInfo").json()
        thread = rpc(proxy.url, "getThread", {"thread": "T-1"}).json()
        plugins = rpc(proxy.url, "loadPlugins").json()
        others = [rpc(proxy.url, name).json() for name in ("getUserFreeTierStatus", "uploadThread", "setThreadMeta",
                                                          "getCreditsByRequestId")]
        elsewhere = httpx.get(proxy.url + "/api/user", headers=KEY)
    assert user["ok"] is True and user["result"]["features"] == []
    assert thread == {"ok": False, "error": {"code": "thread-not-found", "message": "Thread not found"}}
    assert plugins == {"ok": True, "result": []}
    assert all(answer == {"ok": True, "result": {}} for answer in others)
    assert elsewhere.status_code == 503 and elsewhere.json() == {"error": "amp upstream proxy not available"}
    assert amp.seen == []


def test_the_control_plane_reaches_ampcode_with_the_amp_key_and_not_the_client_key(
        amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**{"upstream-url": amp.url, "upstream-api-key": UPSTREAM_KEY}) as proxy:
        user = rpc(proxy.url, "getUserInfo")
        listed = httpx.get(proxy.url + "/api/user", headers=KEY)
    assert user.json()["result"]["email"] == "amp-user@example.com"  # ampcode.com's answer, not ours
    assert user.headers["x-cliproxy-served-by"] == "ampcode.com"
    internal, plain = amp.seen
    assert (internal.path, internal.query) == ("/api/internal", "getUserInfo")
    assert internal.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert internal.headers["x-api-key"] == UPSTREAM_KEY
    assert (plain.method, plain.path) == ("GET", "/api/user") and listed.json() == {"ok": True}


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/internal/x"), ("GET", "/api/user/x"), ("GET", "/api/auth"), ("GET", "/api/auth/x"),
    ("GET", "/api/meta"), ("GET", "/api/meta/x"), ("GET", "/api/ads"), ("POST", "/api/telemetry"),
    ("GET", "/api/telemetry/x"), ("GET", "/api/threads"), ("DELETE", "/api/threads/x"), ("POST", "/api/thread-actors"),
    ("POST", "/api/otel"), ("GET", "/api/otel/x"), ("GET", "/api/tab"), ("POST", "/api/tab/x"),
    ("GET", "/threads"), ("GET", "/threads/T-1"), ("GET", "/docs"), ("GET", "/docs/x"), ("GET", "/settings"),
    ("GET", "/settings/x"), ("GET", "/threads.rss"), ("GET", "/news.rss"), ("GET", "/auth/cli-login"),
    ("POST", "/auth/cli-login")])
def test_each_amp_path_reaches_ampcode_unchanged(amp: FakeAmp, amp_proxy: AmpProxy, method: str, path: str) -> None:
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        answer = httpx.request(method, proxy.url + path, headers=KEY)
    assert answer.status_code == 200
    assert [(s.method, s.path) for s in amp.seen] == [(method, path)]


@pytest.mark.parametrize("method,path", [("POST", "/api/thread-actors/T-1"), ("GET", "/api/ads/x"),
                                         ("POST", "/threads")])
def test_paths_outside_the_list_are_not_forwarded(amp: FakeAmp, amp_proxy: AmpProxy, method: str, path: str) -> None:
    with amp_proxy(**{"upstream-url": amp.url}) as proxy:
        assert httpx.request(method, proxy.url + path, headers=KEY).status_code == 404
    assert amp.seen == []


def test_browser_pages_pass_without_a_client_key_and_the_rest_need_one(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**{"upstream-url": amp.url, "upstream-api-key": UPSTREAM_KEY}) as proxy:
        pages = [httpx.get(proxy.url + p).status_code
                 for p in ("/auth/cli-login", "/threads/T-1", "/settings", "/docs")]
        keyed = [httpx.get(proxy.url + p).status_code for p in ("/threads.rss", "/news.rss", "/api/threads",
                                                               "/api/auth/x")]
        wrong = httpx.get(proxy.url + "/news.rss", headers={"authorization": "Bearer wrong"}).status_code
    assert pages == [200] * 4 and keyed == [401] * 4 and wrong == 401
    assert len(amp.seen) == 4 and all(s.headers["authorization"] == f"Bearer {UPSTREAM_KEY}" for s in amp.seen)


def test_an_open_proxy_forwards_without_a_client_key(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(api_keys=[], **{"upstream-url": amp.url}) as proxy:
        assert httpx.get(proxy.url + "/api/user").status_code == 200
    assert amp.paths() == ["/api/user"]


def test_without_an_upstream_pages_and_the_bridge_listing_are_unavailable(amp_proxy: AmpProxy) -> None:
    with amp_proxy() as proxy:
        statuses = [httpx.get(proxy.url + path, headers=KEY).status_code
                    for path in ("/api/user", "/threads/T-1", "/api/provider/google/v1beta1/models")]
        local_list = httpx.get(proxy.url + "/api/provider/openai/v1/models", headers=KEY)
    assert statuses == [503, 503, 503]
    assert local_list.status_code == 200 and local_list.json()["data"]


def test_browsers_get_no_cors_answer_from_the_control_plane(amp: FakeAmp, fake: FakeCodex, auth_dir: Path) -> None:
    page = "https://app.example"
    browser = {**KEY, "origin": page}
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{  # type: ignore[attr-defined]
            "api-keys": ["k1"], "cors-allow-origins": [page], "ampcode": {"upstream-url": amp.url}}) as proxy:
        ours = httpx.get(proxy.url + "/api/user", headers=browser)
        amp.script(AmpReply(body=b"{}", headers={"access-control-allow-origin": "https://ampcode.com"}))
        theirs = httpx.get(proxy.url + "/api/user", headers=browser)
        preflight = httpx.options(proxy.url + "/api/user", headers={**browser, "access-control-request-method": "GET"})
        provider = httpx.options(proxy.url + "/api/provider/openai/v1/chat/completions",
                                 headers={**browser, "access-control-request-method": "POST"})
    assert ours.status_code == 200 and not [h for h in ours.headers if h.startswith("access-control-")]
    assert theirs.headers["access-control-allow-origin"] == "https://ampcode.com"
    assert preflight.status_code == 403 and preflight.content == b""
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    assert provider.status_code == 204 and provider.headers["access-control-allow-origin"] == page
    assert [(s.method, s.path) for s in amp.seen] == [("GET", "/api/user"), ("GET", "/api/user")]


def test_the_v1beta1_bridge_passes_on_what_is_not_a_model_call_and_needs_a_client_key(
        amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    bridge = "/api/provider/google/v1beta1"
    with amp_proxy(**{"upstream-url": amp.url, "upstream-api-key": UPSTREAM_KEY}) as proxy:
        listing = httpx.get(proxy.url + bridge + "/publishers/google/models?pageSize=5", headers=KEY)
        created = httpx.post(proxy.url + bridge + "/models", headers=KEY, content=b'{"name":"x"}')
        keyless = [httpx.get(proxy.url + bridge + "/publishers/google/models"),
                   httpx.post(proxy.url + bridge + "/publishers/google/models/gemini-x:generateContent", json={})]
    assert listing.status_code == created.status_code == 200
    assert listing.headers["x-cliproxy-served-by"] == "ampcode.com"
    assert [(s.method, s.path, s.query, s.body) for s in amp.seen] == [
        ("GET", bridge + "/publishers/google/models", "pageSize=5", b""),
        ("POST", bridge + "/models", "", b'{"name":"x"}')]
    assert [s.headers["authorization"] for s in amp.seen] == [f"Bearer {UPSTREAM_KEY}"] * 2
    assert [answer.status_code for answer in keyless] == [401, 401]
    assert all("Missing API key" in answer.json()["error"]["message"] for answer in keyless)
