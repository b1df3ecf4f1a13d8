"""Codex CLI signed in with ChatGPT reads the pool's quota with its own token."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, access_token


def test_loopback_chatgpt_bearer_reads_usage_but_not_inference(proxy: Proxy, fake: FakeCodex) -> None:
    own_token = access_token("codex-cli-own-token", "acc-own")
    chatgpt = {"authorization": "Bearer " + own_token}
    usage = httpx.get(proxy.url + "/backend-api/wham/usage", headers=chatgpt)
    assert usage.status_code == 200 and isinstance(usage.json()["rate_limit"]["allowed"], bool)
    check = httpx.get(proxy.url + "/backend-api/wham/accounts/check", headers=chatgpt)
    assert check.status_code == 200
    httpx.post(proxy.v1 + "/chat/completions", headers={"authorization": "Bearer sk-local-1"},
               json={"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]})
    inference = httpx.post(proxy.v1 + "/chat/completions", headers=chatgpt,
                           json={"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]})
    assert inference.status_code == 401  # api-keys are set: a ChatGPT token is no client key
    assert fake.requests and not any(own_token in str(r.headers) for r in fake.requests)
    assert httpx.get(proxy.url + "/backend-api/wham/usage",
                     headers={"authorization": "Bearer not-a-jwt"}).status_code == 401


@pytest.mark.parametrize("path", ["/backend-api/wham/usage", "/wham/usage", "/api/codex/usage",
                                  "/backend-api/wham/accounts/check", "/backend-api/other/thing"])
def test_a_chatgpt_token_from_a_rebinding_page_is_no_key(proxy: Proxy, path: str) -> None:
    """A web page that reaches the proxy through DNS rebinding connects from loopback, but its
    requests carry the page's own host name: its (unsigned) ChatGPT-shaped token is refused."""
    forged = {"authorization": "Bearer " + access_token("made-up-by-a-page", "acc-x"), "host": "evil.example:8317"}
    assert httpx.get(proxy.url + path, headers=forged).status_code == 401
    local = {**forged, "host": "localhost:8317"}
    assert httpx.get(proxy.url + path, headers=local).status_code != 401
