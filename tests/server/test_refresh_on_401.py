"""An upstream 401 → one refresh at the issuer → the same request retried with the new token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.fakes.issuer import FakeIssuer, running_issuer
from tests.helpers import run_proxy, write_account

UNAUTHORIZED = Reply(status=401, body={"error": {"message": "Your authentication token has expired.",
                                                 "type": "invalid_request_error", "code": "token_expired"}})


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with running_issuer() as running:
        yield running


def account_from_issuer(issuer: FakeIssuer, auth_dir: Path) -> tuple[Path, dict[str, str]]:
    tokens = issuer.tokens()
    path = write_account(auth_dir, "r", tokens["access_token"], "acct_1", refresh_token=tokens["refresh_token"],
                         id_token=tokens["id_token"])
    return path, tokens


def test_401_refreshes_once_and_retries_transparently(fake: FakeCodex, issuer: FakeIssuer, tmp_path: Path) -> None:
    path, old = account_from_issuer(issuer, tmp_path / "auth")
    fake.script(old["access_token"], UNAUTHORIZED)
    with run_proxy(tmp_path / "auth", fake.url + "/backend-api/codex", **{"oauth-issuer": issuer.url}) as proxy:  # type: ignore[attr-defined]
        sdk = openai.OpenAI(base_url=proxy.v1, api_key="k", max_retries=0)
        reply = sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
        again = sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == again.choices[0].message.content == "Hello"
    assert len(issuer.refresh_calls) == 1
    tokens_used = [r.headers["authorization"][7:] for r in fake.inference_requests()]
    stored = json.loads(path.read_text())
    assert tokens_used[0] == old["access_token"]
    assert tokens_used[1] == tokens_used[2] == stored["access_token"] != old["access_token"]


def test_revoked_refresh_token_tells_the_user_to_log_in(fake: FakeCodex, issuer: FakeIssuer, tmp_path: Path) -> None:
    path = write_account(tmp_path / "auth", "r", "tok-dead", "acct_1", refresh_token="rt_not_known_to_issuer")
    fake.script("tok-dead", UNAUTHORIZED)
    with run_proxy(tmp_path / "auth", fake.url + "/backend-api/codex", **{"oauth-issuer": issuer.url}) as proxy:  # type: ignore[attr-defined]
        sdk = openai.OpenAI(base_url=proxy.v1, api_key="k", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code in (401, 503)
    assert "cliproxy login" in err.value.message
    assert "rt_not_known_to_issuer" not in err.value.message
    assert json.loads(path.read_text()).get("auth_error")
