"""The retry settings a user can write (``max-retry-credentials``, ``request-retry``,
``max-retry-interval``), against the real server and the fake backend."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import run_proxy, write_account

KEY = "sk-local-1"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
BOOM = Reply(status=500, body={"detail": "Internal Server Error"})


def tokens(fake: FakeCodex) -> list[str]:
    return [request.headers["authorization"][7:] for request in fake.inference_requests()]


def test_max_retry_credentials_1_tries_one_account_however_many_fail(fake: FakeCodex, tmp_path: Path) -> None:
    # given three accounts whose backend answers 500 to every request
    auth = tmp_path / "auth"
    for name in "abc":
        write_account(auth, name, f"tok-{name}", f"acc-{name}")
        fake.script(f"tok-{name}", *[BOOM] * 5)
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY]},  # type: ignore[attr-defined]
                   **{"max-retry-credentials": 1}, routing={"session-affinity": False}) as proxy:
        # when a client asks once
        response = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
    # then it is told of the 500, and only one account was tried (the blip retried on it alone)
    assert response.status_code == 500
    assert len(set(tokens(fake))) == 1 and 1 <= len(tokens(fake)) <= 3


def test_a_short_rate_limit_is_waited_for_when_the_budget_allows(fake: FakeCodex, auth_dir: Path) -> None:
    # given the only account answered a 429 that lifts in 1.5 s
    fake.script("tok-a", Reply(status=429, body={"error": {"message": "Rate limit reached", "code":
                                                           "rate_limit_exceeded"}}, headers={"retry-after": "1.5"}))
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{"api-keys": [KEY]},  # type: ignore[attr-defined]
                   **{"request-retry": 1, "max-retry-interval": 5}) as proxy:
        # when a client asks
        began = time.monotonic()
        response = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT, timeout=30)
        took = time.monotonic() - began
    # then the proxy waited for the limit to lift and served it
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "Hello"
    assert took >= 1.0 and tokens(fake) == ["tok-a", "tok-a"]


def test_a_rate_limit_longer_than_the_budget_allows_is_told_at_once(fake: FakeCodex, auth_dir: Path) -> None:
    # given the only account answered a 429 that lifts in 30 s, and no waiting is configured
    fake.script("tok-a", Reply(status=429, body={"error": {"message": "Rate limit reached", "code":
                                                           "rate_limit_exceeded"}}, headers={"retry-after": "30"}))
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as proxy:  # type: ignore[attr-defined]
        response = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
        served = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
    # then the client reads the 429 with the upstream's time (a retry sooner would meet it again),
    # and the account, the only one, was not rested for it: the next request is sent
    assert response.status_code == 429 and response.headers["retry-after"] == "30"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert served.status_code == 200 and tokens(fake) == ["tok-a", "tok-a"]
