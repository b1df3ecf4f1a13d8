"""Errors tell the truth: what is wrong, and what the user can do, never an account's e-mail."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import run_proxy, write_account

KEY = "sk-local-1"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "gpt-5.4", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def no_email(*responses: httpx.Response) -> bool:
    return all("@example.com" not in response.text for response in responses)


def test_every_account_disabled_is_a_503_that_says_so(fake: FakeCodex, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    write_account(auth, "a", "tok-a", "acc-1", disabled=True)
    write_account(auth, "b", "tok-b", "acc-2", disabled=True)
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as proxy:  # type: ignore[attr-defined]
        chat = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
        claude = httpx.post(proxy.v1 + "/messages", headers={"x-api-key": KEY}, json=MESSAGES)
    assert chat.status_code == 503 and claude.status_code == 503
    message = chat.json()["error"]["message"]
    assert "disabled" in message and "cliproxy accounts enable" in message
    assert "disabled" in claude.json()["error"]["message"]
    assert fake.requests == [] and no_email(chat, claude)


def test_every_api_key_refused_says_to_check_the_key_not_to_log_in(fake: FakeCodex, tmp_path: Path) -> None:
    # given no ChatGPT account, and one codex-api-key entry that the upstream refuses
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    fake.script("ck-upstream-1", Reply(status=401, body={"error": {"message": "Incorrect API key provided",
                                                                   "code": "invalid_api_key"}}))
    with run_proxy(tmp_path / "auth", upstream, **{"api-keys": [KEY]},
                   **{"codex-api-key": [{"api-key": "ck-upstream-1", "base-url": upstream}]}) as proxy:
        first = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
        later = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
    # then the client reads that the key was refused; nobody is sent to `cliproxy login`
    assert first.status_code == later.status_code == 503
    for response in (first, later):
        message = response.json()["error"]["message"]
        assert "API key" in message and "codex-api-key" in message and "cliproxy login" not in message
    assert len(fake.inference_requests()) == 1  # the refused key is not asked again
    assert "ck-upstream-1" not in first.text + later.text and no_email(first, later)


def test_errors_about_accounts_name_them_without_their_email(fake: FakeCodex, accounts: Path) -> None:
    # given both accounts spent their quota
    spent = Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "The usage limit has been "
                                              "reached", "resets_in_seconds": 600}})
    fake.script("tok-a", spent)
    fake.script("tok-b", spent)
    with run_proxy(accounts, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as proxy:  # type: ignore[attr-defined]
        chat = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
        responses = httpx.post(proxy.v1 + "/responses", headers=AUTH, json={"model": "gpt-5.4", "input": "hi"})
        claude = httpx.post(proxy.v1 + "/messages", headers={"x-api-key": KEY}, json=MESSAGES)
    assert [r.status_code for r in (chat, responses, claude)] == [429, 429, 429]
    assert "account #" in chat.json()["error"]["message"] and no_email(chat, responses, claude)
