"""Rate-limit reset credits: Codex CLI redeems one through the proxy; the account it was for serves again."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import access_token, run_proxy

KEY = "sk-local-1"
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
SPENT = Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                          "resets_in_seconds": 86400}})
CONSUME = "/backend-api/wham/rate-limit-reset-credits/consume"
# Codex CLI signed in to the same ChatGPT account as pool account ``a`` (acc-1), with its own token.
CALLER = {"authorization": f"Bearer {access_token('codex-cli-own', 'acc-1')}", "chatgpt-account-id": "acc-1"}


def test_a_redeemed_credit_ends_the_accounts_rest(fake: FakeCodex, auth_dir: Path) -> None:
    fake.script("tok-a", SPENT)
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as proxy:  # type: ignore[attr-defined]
        auth = {"authorization": f"Bearer {KEY}"}
        # given the only account spent its quota for a day
        assert httpx.post(proxy.v1 + "/chat/completions", json=CHAT, headers=auth).status_code == 429
        assert httpx.post(proxy.v1 + "/chat/completions", json=CHAT, headers=auth).status_code == 429
        # when a refused redemption is relayed, nothing changes
        fake.backend_reply = Reply(status=409, body={"detail": "no credit"})
        refused = httpx.post(proxy.url + CONSUME, headers=CALLER, json={"redeem_request_id": "r-1"})
        assert refused.status_code == 409
        assert httpx.post(proxy.v1 + "/chat/completions", json=CHAT, headers=auth).status_code == 429
        # when Codex CLI redeems a credit for that ChatGPT account
        fake.backend_reply = Reply(body={"redeemed": True})
        redeemed = httpx.post(proxy.url + CONSUME, headers=CALLER, json={"redeem_request_id": "r-2"})
        # then the backend got the caller's own request, and the account serves again at once
        assert redeemed.status_code == 200 and redeemed.json() == {"redeemed": True}
        relayed = [r for r in fake.requests if r.path == CONSUME]
        assert relayed[-1].body == {"redeem_request_id": "r-2"}
        assert relayed[-1].headers["authorization"] == CALLER["authorization"]
        assert httpx.post(proxy.v1 + "/chat/completions", json=CHAT, headers=auth).status_code == 200
