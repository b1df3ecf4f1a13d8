"""Several accounts behind the real server: failover before the first byte, cooldowns, the aggregated
429 per dialect, affinity, distributions and a restart — with the fake backend answering per account."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.fakes.issuer import FakeIssuer, running_issuer
from tests.helpers import Proxy, run_proxy, write_account

KEY = "sk-local-1"
AUTH = {"authorization": f"Bearer {KEY}"}
CODEX_CLI = {**AUTH, "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm", "originator": "codex_exec"}


def usage_limit(resets_in: int | None = None, resets_at: float | None = None) -> Reply:
    error: dict[str, Any] = {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                             "plan_type": "plus"}
    if resets_in is not None:
        error["resets_in_seconds"] = resets_in
    if resets_at is not None:
        error["resets_at"] = int(resets_at)
    return Reply(status=429, body={"error": error})


@contextmanager
def proxy_for(fake: FakeCodex, auth: Path, **config: Any) -> Iterator[Proxy]:
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY], **config}) as running:  # type: ignore[attr-defined]
        yield running


def sdk(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=KEY, max_retries=0)


def chat(proxy: Proxy, text: str = "hi") -> str:
    reply = sdk(proxy).chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def served_by(fake: FakeCodex) -> list[str]:
    return [r.headers["authorization"][7:] for r in fake.inference_requests()]


def test_usage_limit_moves_traffic_until_resets_at_then_the_account_returns(fake: FakeCodex, accounts: Path) -> None:
    fake.script("tok-a", usage_limit(resets_at=time.time() + 2))
    with proxy_for(fake, accounts) as proxy:
        assert chat(proxy, "one") == "Hello"  # a failed, b answered: the client never knew
        assert [chat(proxy, f"m{n}") for n in range(3)] == ["Hello"] * 3
        assert served_by(fake) == ["tok-a", "tok-b", "tok-b", "tok-b", "tok-b"]
        time.sleep(2.1)
        for n in range(4):
            chat(proxy, f"later{n}")
    assert set(served_by(fake)[5:]) == {"tok-a", "tok-b"}


def test_failure_before_the_first_byte_is_one_clean_stream(fake: FakeCodex, accounts: Path) -> None:
    fake.script("tok-a", Reply(cut_after=3))  # rate limits, metadata, response.created; then the cut
    body = {"model": "gpt-5.4", "input": "hi", "stream": True, "prompt_cache_key": "thread-1"}
    with proxy_for(fake, accounts) as proxy, \
            httpx.stream("POST", proxy.url + "/backend-api/codex/responses", json=body,
                         headers=CODEX_CLI) as response:
        text = response.read().decode()
    assert response.status_code == 200
    assert text.count("event: response.created") == 1 and text.count("event: codex.rate_limits") == 1
    assert text.count("event: response.output_text.delta") == 2 and text.count("event: response.completed") == 1
    assert "event: error" not in text
    assert served_by(fake) == ["tok-a", "tok-b"]


def test_overloaded_in_stream_before_content_fails_over(fake: FakeCodex, accounts: Path) -> None:
    overloaded = [*ev.preamble(), {"type": "response.failed", "response": {
        "id": "resp_x", "status": "failed", "error": {"code": "server_is_overloaded", "message": "busy"}}}]
    fake.script("tok-a", Reply(events=overloaded))
    with proxy_for(fake, accounts) as proxy:
        chunks = list(sdk(proxy).chat.completions.create(model="gpt-5.4", stream=True,
                                                         messages=[{"role": "user", "content": "hi"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert served_by(fake) == ["tok-a", "tok-b"]


def test_failure_after_content_is_one_dialect_error_and_no_second_account(fake: FakeCodex, accounts: Path) -> None:
    fake.script("tok-a", Reply(events=ev.text_stream(["Hel", "lo", " world"]), cut_after=8))
    with proxy_for(fake, accounts) as proxy, \
            anthropic.Anthropic(base_url=proxy.url, api_key=KEY, max_retries=0) as claude:
        seen: list[str] = []
        with pytest.raises(anthropic.APIStatusError), claude.messages.stream(
                model="gpt-5.4", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
            for text in stream.text_stream:
                seen.append(text)
    assert "".join(seen) == "Hello"  # what was sent stays sent, nothing is repeated
    assert served_by(fake) == ["tok-a"]


def test_all_accounts_exhausted_is_one_429_per_dialect(fake: FakeCodex, accounts: Path) -> None:
    fake.script("tok-a", usage_limit(resets_in=300))
    fake.script("tok-b", usage_limit(resets_in=120))
    with proxy_for(fake, accounts) as proxy:
        with pytest.raises(openai.RateLimitError) as chat_error:
            chat(proxy)
        responses = httpx.post(proxy.v1 + "/responses", headers=CODEX_CLI,
                               json={"model": "gpt-5.4", "input": "hi", "stream": True})
        with pytest.raises(anthropic.RateLimitError) as claude_error:
            anthropic.Anthropic(base_url=proxy.url, api_key=KEY, max_retries=0).messages.create(
                model="gpt-5.4", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert len(fake.inference_requests()) == 2  # later requests did not even try
    body = chat_error.value.body
    assert isinstance(body, dict) and body["type"] == "rate_limit_error" and body["code"] == "rate_limit_exceeded"
    assert 100 <= int(chat_error.value.response.headers["retry-after"]) <= 120
    assert "All 2 accounts are resting" in body["message"] and "@example.com" not in body["message"]
    assert responses.status_code == 429 and 100 <= int(responses.headers["retry-after"]) <= 120
    error = responses.json()["error"]
    assert error["type"] == error["code"] == "usage_limit_reached" and error["plan_type"] == "plus"
    assert 100 <= error["resets_in_seconds"] <= 120
    assert abs(error["resets_at"] - (time.time() + error["resets_in_seconds"])) <= 2
    assert claude_error.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_exhausted_after_the_commit_is_the_dialects_error_event(fake: FakeCodex, accounts: Path) -> None:
    failed = {"type": "response.failed", "response": {"id": "r", "status": "failed", "error": {
        "code": "usage_limit_reached", "message": "The usage limit has been reached", "resets_in_seconds": 90}}}
    fake.script("tok-a", Reply(events=[failed], first_delay=0.6))
    fake.script("tok-b", usage_limit(resets_in=60))
    body = {"model": "gpt-5.4", "input": "hi", "stream": True}
    with proxy_for(fake, accounts, streaming={"keepalive-seconds": 0.2}) as proxy, \
            httpx.stream("POST", proxy.v1 + "/responses", json=body, headers=CODEX_CLI) as response:
        text = response.read().decode()
    assert response.status_code == 200 and ": keep-alive" in text
    assert text.count("event: error") == 1
    error = json.loads(text.split("event: error\ndata: ")[1].split("\n")[0])
    assert error["code"] == "usage_limit_reached" and "All 2 accounts are resting" in error["message"]


def test_affinity_keeps_a_conversation_on_one_account_and_moves_it_on_a_cooldown(fake: FakeCodex,
                                                                                 accounts: Path) -> None:
    def turn(proxy: Proxy, thread: str) -> None:
        httpx.post(proxy.v1 + "/responses", headers=AUTH,
                   json={"model": "gpt-5.4", "input": "hi", "prompt_cache_key": thread}).raise_for_status()

    with proxy_for(fake, accounts) as proxy:
        for _ in range(3):
            turn(proxy, "thread-1")
        first = served_by(fake)[0]
        assert served_by(fake) == [first] * 3
        fake.script(first, usage_limit(resets_in=600))
        for _ in range(3):
            turn(proxy, "thread-1")
    other = "tok-b" if first == "tok-a" else "tok-a"
    assert served_by(fake)[3:] == [first, other, other, other]


def test_round_robin_and_fill_first_distributions(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy:
        for n in range(4):
            chat(proxy, f"conversation {n}")  # one client key, four conversations: not pinned together
    assert served_by(fake) == ["tok-a", "tok-b", "tok-a", "tok-b"]
    fake.requests.clear()
    with proxy_for(fake, accounts, routing={"strategy": "fill-first"}) as proxy:
        for n in range(4):
            chat(proxy, f"conversation {n}")
    assert served_by(fake) == ["tok-a"] * 4


def test_a_restart_keeps_cooldowns(fake: FakeCodex, accounts: Path) -> None:
    fake.script("tok-a", usage_limit(resets_in=600))
    with proxy_for(fake, accounts) as proxy:
        chat(proxy)
    state = json.loads((accounts / ".state" / "pool.json").read_text())
    assert state["accounts"]["codex-a.json"]["cooling_until"] > time.time() + 500
    assert (accounts / ".state" / "pool.json").stat().st_mode & 0o777 == 0o600
    assert "tok-a" not in (accounts / ".state" / "pool.json").read_text()
    fake.requests.clear()
    with proxy_for(fake, accounts) as proxy:
        for n in range(3):
            chat(proxy, f"after restart {n}")
        snapshot = proxy.services.runner.pool.snapshot()
    assert served_by(fake) == ["tok-b"] * 3
    assert {a["name"]: a["state"] for a in snapshot["accounts"]}["a@example.com"] == "quota"


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with running_issuer() as running:
        yield running


def test_401_refreshes_retries_then_cools_until_the_credential_changes(fake: FakeCodex, issuer: FakeIssuer,
                                                                       tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    tokens = issuer.tokens()
    write_account(auth, "a", tokens["access_token"], "acc-1", refresh_token=tokens["refresh_token"],
                  id_token=tokens["id_token"])
    write_account(auth, "b", "tok-b", "acc-2")
    fake.default = Reply(status=401, body={"error": {"message": "token expired", "code": "token_expired"}})
    fake.script("tok-b", *(Reply() for _ in range(4)))
    with proxy_for(fake, auth, **{"oauth-issuer": issuer.url}) as proxy:
        assert [chat(proxy, f"m{n}") for n in range(3)] == ["Hello"] * 3
        states = {a["id"]: a["state"] for a in proxy.services.runner.pool.snapshot()["accounts"]}
    used = served_by(fake)
    assert used[0] == tokens["access_token"] and used[1] not in (tokens["access_token"], "tok-b")
    assert used[2:] == ["tok-b"] * 3  # refreshed once, 401 again: the account rests, b serves
    assert len(issuer.refresh_calls) == 1
    assert states["codex-a.json"] == "needs-login"


def test_usage_not_included_in_stream_blocks_the_account_an_hour(fake: FakeCodex, accounts: Path) -> None:
    """A ``usage_not_included`` failure inside the stream rests the account for an hour."""
    failed = {"type": "response.failed", "response": {"id": "r", "status": "failed", "error": {
        "code": "usage_not_included", "message": "Upgrade to Plus to use Codex"}}}
    fake.script("tok-a", Reply(events=[*ev.preamble(), failed]))
    with proxy_for(fake, accounts) as proxy:
        assert [chat(proxy, f"m{n}") for n in range(3)] == ["Hello"] * 3
        account = {a["id"]: a for a in proxy.services.runner.pool.snapshot()["accounts"]}["codex-a.json"]
    assert served_by(fake) == ["tok-a", "tok-b", "tok-b", "tok-b"]
    assert account["state"] == "quota" and 3590 <= account["until"] - time.time() <= 3600
