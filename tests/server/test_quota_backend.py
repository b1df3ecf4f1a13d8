"""The caller's own ChatGPT backend requests and the usage client views."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, access_token, run_proxy
from tests.server.test_pool_usage import AUTH, CODEX_CLI, KEY, rate_limits, stream_with

OWN_TOKEN = access_token("codex-cli-own", "acc-own")
CALLER = {"authorization": f"Bearer {OWN_TOKEN}", "chatgpt-account-id": "acc-own",
          "user-agent": "codex-tui/0.169.0"}
REQUIREMENTS = "/backend-api/wham/config/requirements"


@contextmanager
def proxy_for(fake: FakeCodex, auth: Path, **quota: Any) -> Iterator[Proxy]:
    url = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_proxy(auth, url, **{"api-keys": [KEY], "quota": quota}) as running:
        yield running


def pool_tokens_seen(fake: FakeCodex) -> bool:
    return any(token in json.dumps(r.headers) for r in fake.requests if not r.path.endswith("/responses")
               for token in ("tok-a", "tok-b"))


def test_passthrough_view_relays_the_callers_own_usage_read_verbatim(fake: FakeCodex, accounts: Path) -> None:
    """The caller's Authorization and ChatGPT-Account-ID reach the backend, the body
    comes back byte for byte; a client key never goes upstream."""
    raw = b'{"plan_type": "team",  "rate_limit": {"allowed": true, "limit_reached": false}, "x": 1.50}'
    fake.usage_default = Reply(body=raw, headers={"x-codex-primary-used-percent": "100"})
    with proxy_for(fake, accounts, **{"client-view": "passthrough"}) as proxy:
        own = httpx.get(proxy.url + "/backend-api/wham/usage", headers=CALLER)
        other_path = httpx.get(proxy.url + "/api/codex/usage", headers=CALLER)
        with_key = httpx.get(proxy.url + "/backend-api/wham/usage", headers=AUTH)
    assert own.status_code == 200 and own.content == raw and other_path.content == raw
    assert own.headers["x-codex-primary-used-percent"] == "100"  # passthrough changes nothing
    first = fake.usage_requests()[0]
    assert first.headers["authorization"] == f"Bearer {OWN_TOKEN}"
    assert first.headers["chatgpt-account-id"] == "acc-own"
    assert with_key.status_code == 401  # the backend saw no credential: the client key stayed here
    assert not any(KEY in json.dumps(r.headers) for r in fake.requests)
    assert not pool_tokens_seen(fake)


def test_pool_view_answers_locally_without_a_backend_call(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy:
        body = httpx.get(proxy.url + "/backend-api/wham/usage", headers=CALLER).json()
    assert body["account_id"] == "cliproxy-pool"
    assert not fake.requests  # poll off: nothing is read upstream on demand


def test_other_backend_paths_are_relayed_with_the_pool_quota_headers(fake: FakeCodex, accounts: Path) -> None:
    """Relayed with the caller's headers; an upstream 100 % becomes the pool value."""
    reset = time.time() + 3600
    fake.script("tok-a", Reply(events=stream_with(rate_limits(40, 10, reset))))
    fake.backend_reply = Reply(body={"requirements": []}, headers={
        "x-codex-primary-used-percent": "100", "x-codex-primary-window-minutes": "300",
        "x-codex-bengalfox-primary-used-percent": "100", "x-request-id": "req-1"})
    with proxy_for(fake, accounts) as proxy:
        httpx.post(proxy.v1 + "/responses", headers=CODEX_CLI,
                   json={"model": "gpt-5.4", "input": "hi", "stream": True}).read()
        answer = httpx.get(proxy.url + REQUIREMENTS + "?scope=user&key=" + KEY, headers=CALLER)
        consume = httpx.post(proxy.url + "/backend-api/wham/rate-limit-reset-credits/consume",
                             headers=CALLER, json={"count": 1})
    assert answer.status_code == 200 and answer.json() == {"requirements": []}
    assert answer.headers["x-codex-primary-used-percent"] == "20"  # mean of a's 40 % and b's unknown 0 %
    assert "x-codex-bengalfox-primary-used-percent" not in answer.headers
    assert answer.headers["x-request-id"] == "req-1"
    relayed = next(r for r in fake.requests if r.path == REQUIREMENTS)
    assert relayed.headers["authorization"] == f"Bearer {OWN_TOKEN}"
    assert relayed.headers["chatgpt-account-id"] == "acc-own" and relayed.headers["user-agent"] == "codex-tui/0.169.0"
    assert consume.status_code == 200
    posted = next(r for r in fake.requests if r.path.endswith("/consume"))
    assert posted.method == "POST" and posted.body == {"count": 1}
    assert not any(KEY in json.dumps(r.headers) + r.path for r in fake.requests)
    assert not pool_tokens_seen(fake)


def test_relay_status_and_client_key_callers(fake: FakeCodex, accounts: Path) -> None:
    fake.backend_reply = Reply(status=403, body={"detail": "workspace forbids it"})
    with proxy_for(fake, accounts) as proxy:
        forbidden = httpx.get(proxy.url + "/backend-api/wham/tasks/list", headers=CALLER)
        keyed = httpx.get(proxy.url + "/backend-api/ps/credential_routes", headers=AUTH)
        anonymous = httpx.get(proxy.url + REQUIREMENTS)
        codex_api = httpx.get(proxy.url + "/backend-api/codex/anything", headers=AUTH)
        codex_api_own = httpx.get(proxy.url + "/backend-api/codex/anything", headers=CALLER)
    assert forbidden.status_code == 403 and forbidden.json() == {"detail": "workspace forbids it"}
    assert keyed.status_code == 401  # relayed without the client key: the backend saw no bearer
    assert anonymous.status_code == 401  # keys are set: neither a client key nor a ChatGPT token
    assert codex_api.status_code == 404  # the Codex API is served here, never relayed
    assert codex_api_own.status_code == 401  # …and a ChatGPT token is no client key for it
    assert [r.path for r in fake.requests] == ["/backend-api/wham/tasks/list", "/backend-api/ps/credential_routes"]


def test_the_relay_forwards_codex_clis_headers_and_nothing_else(fake: FakeCodex, accounts: Path) -> None:
    """An allow list: the management key, client keys, cookies, a reverse proxy's headers and any
    header the proxy does not know stay here; what Codex CLI sends the backend goes on."""
    codex = {**CALLER, "originator": "codex_cli_rs", "version": "0.169.0", "session_id": "s-1",
             "x-codex-turn-metadata": "{}", "openai-beta": "x"}
    private = {"x-management-key": "mgmt-secret-1", "x-api-key": KEY, "cookie": "sid=1", "x-real-ip": "10.0.0.9",
               "x-new-secret-header": "s3cr3t", "proxy-authorization": "Basic eA=="}
    with proxy_for(fake, accounts) as proxy:
        answer = httpx.get(proxy.url + REQUIREMENTS, headers={**codex, **private})
    assert answer.status_code == 200, answer.text
    relayed = next(r for r in fake.requests if r.path == REQUIREMENTS).headers
    assert {name: relayed.get(name) for name in codex} == codex
    assert not set(private) & set(relayed)
    assert not any(value in json.dumps(relayed) for value in private.values())


def test_backend_passthrough_off_is_404(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts, **{"backend-passthrough": False}) as proxy:
        answer = httpx.get(proxy.url + REQUIREMENTS, headers=CALLER)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert not fake.requests


def test_routed_view_shows_the_sessions_account(fake: FakeCodex, accounts: Path) -> None:
    reset = time.time() + 3600
    fake.script("tok-a", Reply(events=stream_with(rate_limits(80, 10, reset))))
    fake.script("tok-b", Reply(events=stream_with({**rate_limits(10, 10, reset), "plan_type": "pro"})))
    with proxy_for(fake, accounts, **{"client-view": "routed"}) as proxy:
        for session in ("s-a", "s-b"):
            httpx.post(proxy.v1 + "/responses", headers=CODEX_CLI,
                       json={"model": "gpt-5.4", "input": "hi", "stream": True, "prompt_cache_key": session}).read()
        on_b = httpx.get(proxy.url + "/backend-api/wham/usage", headers={**AUTH, "session_id": "s-b"}).json()
        on_a = httpx.get(proxy.url + "/backend-api/wham/usage", headers={**AUTH, "session_id": "s-a"}).json()
        no_session = httpx.get(proxy.url + "/backend-api/wham/usage", headers=AUTH).json()
    assert on_a["rate_limit"]["primary_window"]["used_percent"] == 80 and on_a["plan_type"] == "plus"
    assert on_b["rate_limit"]["primary_window"]["used_percent"] == 10 and on_b["plan_type"] == "pro"
    assert no_session["rate_limit"]["primary_window"]["used_percent"] == 45  # the pool
