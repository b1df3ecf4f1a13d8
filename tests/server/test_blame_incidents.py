"""Incidents users reported, replayed against the real server and the fake backend: a failure that was
not the account's never rests it, and the client is told the truth in its own dialect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cliproxy.server.app import build_app
from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy

KEY = "sk-local-1"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "gpt-5.4", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
NOT_PERSISTED = ("Item with id 'rs_1' not found. Items are not persisted when `store` is set to false. Try again "
                 "with `store` set to true, or remove this item from your input.")
# Values a header cannot carry: a line break (it would split the request), a NUL, a character
# outside Latin-1.
UNSENDABLE = {"crlf": "thread-1\r\nx-injected: yes", "nul": "thread\x001", "non-latin-1": "スレッド-1"}


@pytest.fixture
def proxy(fake: FakeCodex, auth_dir: Path) -> Iterator[Proxy]:
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as running:  # type: ignore[attr-defined]
        yield running


def states(proxy: Proxy) -> list[str]:
    return [account["state"] for account in proxy.services.runner.pool.snapshot()["accounts"]]


def test_one_500_on_the_only_account_is_retried_and_the_next_request_is_served(proxy: Proxy,
                                                                               fake: FakeCodex) -> None:
    # given the only account's backend fails once with a 500
    fake.script("tok-a", Reply(status=500, body={"detail": "Internal Server Error"}))
    # when the client asks, and asks again at once
    first = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
    second = httpx.post(proxy.v1 + "/responses", headers=AUTH, json={"model": "gpt-5.4", "input": "hi"})
    # then both are served: the blip was retried on the same account, which never rested
    assert first.status_code == 200 and first.json()["choices"][0]["message"]["content"] == "Hello"
    assert second.status_code == 200
    assert "usage limit" not in (first.text + second.text).lower()
    assert len(fake.inference_requests()) == 3 and states(proxy) == ["available"]


def test_an_item_not_persisted_is_the_requests_400_and_no_account_rests(fake: FakeCodex, auth_dir: Path) -> None:
    # given the backend answers the store:false 404 about an item the request named
    fake.script("tok-a", Reply(status=404, body={"error": {"message": NOT_PERSISTED, "type": "invalid_request_error",
                                                           "param": "input"}}))
    body = {"model": "gpt-5.4", "input": [{"type": "item_reference", "id": "rs_1"}]}
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as proxy:  # type: ignore[attr-defined]
        refused = httpx.post(proxy.v1 + "/responses", headers=AUTH, json=body)
        after = states(proxy)
        served = httpx.post(proxy.v1 + "/responses", headers=AUTH, json={"model": "gpt-5.4", "input": "hi"})
    # then the client reads a 400 about its item, tried once; the account serves on and nothing was saved as a rest
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "item_not_found" and error["type"] == "invalid_request_error" and "rs_1" in error["message"]
    assert len(fake.inference_requests()) == 2 and after == ["available"] and served.status_code == 200
    saved = json.loads((auth_dir / ".state" / "pool.json").read_text())["accounts"]["codex-a.json"]
    assert saved["cooling_until"] == 0 and saved["outcome"] is None and saved["model_blocks"] == {}


# ---- a value that cannot be a header is the request's 400, before any account is tried --------------

def assert_refused_before_sending(response: httpx.Response, fake: FakeCodex, proxy: Proxy, shape: str) -> None:
    assert response.status_code == 400
    body = response.json()
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert "invalid_header_value" in body["error"]["message"]
    else:
        assert body["error"]["code"] == "invalid_header_value" and body["error"]["type"] == "invalid_request_error"
    assert fake.inference_requests() == [] and fake.requests == []
    assert states(proxy) == ["available"]


@pytest.mark.parametrize("value", UNSENDABLE.values(), ids=UNSENDABLE.keys())
@pytest.mark.parametrize("path", ["/responses", "/responses/compact"])
def test_a_prompt_cache_key_that_cannot_be_a_header_is_a_400(proxy: Proxy, fake: FakeCodex, path: str,
                                                              value: str) -> None:
    # Responses and compact: the client's prompt_cache_key becomes the upstream's session_id header
    response = httpx.post(proxy.v1 + path, headers=AUTH,
                          json={"model": "gpt-5.4", "input": "hi", "prompt_cache_key": value})
    assert_refused_before_sending(response, fake, proxy, "openai")
    assert "prompt_cache_key" in response.json()["error"]["message"]


@pytest.fixture
def in_process(proxy: Proxy) -> Iterator[TestClient]:
    """The same app without a socket: a client can put a line break or a NUL in a header here, which an
    HTTP client library refuses to send (and a header never holds a non-Latin-1 character: HTTP
    decodes header bytes as Latin-1)."""
    yield TestClient(build_app(proxy.services), base_url="http://localhost", raise_server_exceptions=False)


@pytest.mark.parametrize("value", [UNSENDABLE["crlf"], UNSENDABLE["nul"]], ids=["crlf", "nul"])
@pytest.mark.parametrize(("path", "body", "shape"), [("/v1/chat/completions", CHAT, "openai"),
                                                     ("/v1/messages", MESSAGES, "anthropic")])
def test_a_forwarded_session_header_that_cannot_be_sent_is_a_400(in_process: TestClient, proxy: Proxy,
                                                                 fake: FakeCodex, path: str, body: dict[str, Any],
                                                                 shape: str, value: str) -> None:
    # Chat and Messages have no prompt_cache_key of their own: a session_id header is forwarded as is
    response = in_process.post(path, json=body, headers={**AUTH, "x-api-key": KEY, "session_id": value})
    assert_refused_before_sending(response, fake, proxy, shape)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", UNSENDABLE.values(), ids=UNSENDABLE.keys())
def test_values_chat_and_claude_code_never_send_as_headers_are_served(proxy: Proxy, fake: FakeCodex,
                                                                     value: str) -> None:
    # Chat derives its cache key from the client key, and Claude Code's session is hashed into one:
    # neither sends the client's value as a header, so nothing needs refusing
    chat = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json={**CHAT, "prompt_cache_key": value})
    claude = httpx.post(proxy.v1 + "/messages", headers={"x-api-key": KEY},
                        json={**MESSAGES, "metadata": {"user_id": json.dumps({"session_id": value})}})
    assert chat.status_code == 200 and claude.status_code == 200
    sent = [request.headers["session_id"] for request in fake.inference_requests()]
    assert len(sent) == 2 and all(len(key) == 36 and key.count("-") == 4 for key in sent)  # UUIDs


# ---- a spent quota while streams are running on the account ------------------------------------------

def stream_chat(proxy: Proxy) -> str:
    """The text a streaming Chat client reads."""
    with httpx.stream("POST", proxy.v1 + "/chat/completions", headers=AUTH, json={**CHAT, "stream": True},
                      timeout=30) as response:
        assert response.status_code == 200
        chunks = [json.loads(line[6:]) for line in response.iter_lines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk.get("choices"))


def served_by(fake: FakeCodex) -> list[str]:
    return [request.headers["authorization"][7:] for request in fake.inference_requests()]


def test_a_spent_quota_while_twenty_streams_run_keeps_every_later_request_off_the_account(
        fake: FakeCodex, accounts: Path) -> None:
    # given twenty slow streams running on a (fill-first keeps everything on it while it can serve)
    slow = Reply(events=ev.text_stream(["one", " two", " three"]), delay=0.2)
    spent = Reply(status=429, body={"error": {"type": "usage_limit_reached", "resets_in_seconds": 60,
                                              "message": "The usage limit has been reached"}})
    fake.script("tok-a", *[slow] * 20, spent)
    with run_proxy(accounts, fake.url + "/backend-api/codex", **{"api-keys": [KEY]},  # type: ignore[attr-defined]
                   routing={"strategy": "fill-first"}) as proxy, ThreadPoolExecutor(20) as clients:
        streams = [clients.submit(stream_chat, proxy) for _ in range(20)]
        deadline = time.monotonic() + 10
        while len(fake.inference_requests()) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        # when a's next request answers 429 usage_limit_reached, while the twenty still run
        during = [httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT) for _ in range(3)]
        texts = [stream.result() for stream in streams]
        after = [httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT) for _ in range(3)]
        state = states(proxy)
    # then the twenty streams end well, and nothing begun after the 429 went to a, even once they ended
    assert texts == ["one two three"] * 20
    assert all(response.status_code == 200 for response in during + after)
    assert served_by(fake) == ["tok-a"] * 21 + ["tok-b"] * 6
    assert state == ["quota", "available"]
