"""Client keys with limits, driven through the official SDKs against the real server on a socket.

Each dialect gets its own error shape for a spent limit (429 with ``Retry-After``) and for a model
the key may not use (403 naming the key's models); ``/v1/usage`` answers for the calling key only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors, types

from cliproxy.observe.usage import summary
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy, write_account
from tests.serve_process import run_configured, wait_for

ALICE, BOB, PLAIN = "sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef", "sk-plain-0123456789"
KEYS: dict[str, Any] = {
    "streaming": {"keepalive-seconds": 1},  # a server notices a client gone once its answer has started
    "api-keys": [PLAIN],
    "client-keys": [
        {"name": "alice", "key": ALICE, "models": ["gpt-5.4*"], "max-effort": "low",
         "limits": [{"requests": 2, "per": "hour", "window": "calendar"}]},
        {"name": "bob", "key": BOB, "show-pool-quota": True,
         "limits": [{"requests": 10, "per": "minute"}, {"tokens": 1000, "per": "day"}]},
    ],
}


@pytest.fixture
def keyed(fake: FakeCodex, auth_dir: Path) -> Iterator[Proxy]:
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **KEYS) as running:  # type: ignore[attr-defined]
        yield running


def chat(proxy: Proxy, key: str = ALICE, model: str = "gpt-5.4") -> httpx.Response:
    return httpx.post(proxy.v1 + "/chat/completions", headers={"authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def my_usage(proxy: Proxy, key: str) -> dict[str, Any]:
    answer = httpx.get(proxy.v1 + "/usage", headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def spend(proxy: Proxy, count: int = 2) -> None:
    for _ in range(count):
        assert chat(proxy).status_code == 200
    wait_for(lambda: my_usage(proxy, ALICE)["limits"][0]["used"] == count, "the requests to be settled")


def test_openai_sdk_gets_a_429_naming_the_limit_and_its_reset(keyed: Proxy) -> None:
    spend(keyed)
    sdk = openai.OpenAI(base_url=keyed.v1, api_key=ALICE, max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert "2 requests per hour (calendar, UTC)" in error.message and "resets at" in error.message
    assert int(error.response.headers["retry-after"]) <= 3600
    assert error.code == "key_limit_reached"
    for call in (lambda: sdk.responses.create(model="gpt-5.4", input="hi"),
                 lambda: sdk.completions.create(model="gpt-5.4", prompt="hi")):
        with pytest.raises(openai.RateLimitError):
            call()


def test_openai_sdk_gets_a_403_naming_the_keys_models(keyed: Proxy) -> None:
    sdk = openai.OpenAI(base_url=keyed.v1, api_key=ALICE, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.chat.completions.create(model="gpt-5.5", messages=[{"role": "user", "content": "hi"}])
    assert "gpt-5.4*" in caught.value.message and caught.value.code == "model_not_allowed"


def test_the_model_lists_show_a_key_only_the_models_it_may_use(keyed: Proxy) -> None:
    alice = {model.id for model in openai.OpenAI(base_url=keyed.v1, api_key=ALICE).models.list()}
    everyone = {model.id for model in openai.OpenAI(base_url=keyed.v1, api_key=BOB).models.list()}
    assert alice and all(name.startswith("gpt-5.4") for name in alice)
    assert alice < everyone
    gemini = httpx.get(keyed.url + "/v1beta/models", headers={"x-goog-api-key": ALICE}, timeout=30).json()
    assert {entry["name"].removeprefix("models/") for entry in gemini["models"]} == alice


def test_anthropic_sdk_gets_its_own_error_shapes(keyed: Proxy) -> None:
    sdk = anthropic.Anthropic(base_url=keyed.url, api_key=ALICE, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        sdk.messages.create(model="gpt-5.5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    spend(keyed)
    with pytest.raises(anthropic.RateLimitError) as limited:
        sdk.messages.create(model="gpt-5.4", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "resets at" in limited.value.message and limited.value.response.headers["retry-after"]
    # Counting tokens asks no account and spends nothing: a key at its limit may still count.
    assert sdk.messages.count_tokens(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]).input_tokens > 0


def test_google_genai_sdk_gets_its_own_error_shapes(keyed: Proxy) -> None:
    options = types.HttpOptions(base_url=keyed.url, api_version="v1beta", timeout=10_000,
                                retry_options=types.HttpRetryOptions(attempts=1))
    sdk = genai.Client(api_key=ALICE, http_options=options)
    with pytest.raises(errors.ClientError) as denied:
        sdk.models.generate_content(model="gpt-5.5", contents="hi")
    assert denied.value.code == 403 and denied.value.status == "PERMISSION_DENIED"
    spend(keyed)
    with pytest.raises(errors.ClientError) as limited:
        sdk.models.generate_content(model="gpt-5.4", contents="hi")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert "2 requests per hour" in (limited.value.message or "")


def test_an_effort_above_the_cap_is_lowered_to_it(keyed: Proxy, fake: FakeCodex) -> None:
    sdk = openai.OpenAI(base_url=keyed.v1, api_key=ALICE, max_retries=0)
    sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}],
                                reasoning_effort="high")
    assert fake.inference_requests()[-1].body["reasoning"]["effort"] == "low"


def test_a_failed_request_gives_its_reservation_back(keyed: Proxy, fake: FakeCodex) -> None:
    fake.script("tok-a", Reply(status=400, body={"error": {"message": "bad input", "type": "invalid_request_error"}}))
    assert chat(keyed).status_code == 400
    wait_for(lambda: my_usage(keyed, ALICE)["limits"][0]["used"] == 0, "the failed request to be released")
    spend(keyed)  # both requests of the hour are still there


def test_a_stream_the_client_leaves_before_content_gives_its_reservation_back(keyed: Proxy, fake: FakeCodex) -> None:
    fake.script("tok-a", Reply(first_delay=30))

    async def leave() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            request = client.build_request("POST", keyed.v1 + "/chat/completions",
                                           headers={"authorization": f"Bearer {ALICE}"},
                                           json={"model": "gpt-5.4", "stream": True,
                                                 "messages": [{"role": "user", "content": "hi"}]})
            await client.send(request, stream=True)  # nothing comes: cancelled while nothing was sent

    with pytest.raises(TimeoutError):  # the client gives up and closes its connection
        asyncio.run(asyncio.wait_for(leave(), 1.0))
    assert fake.inference_requests(), "the request reached the backend before the client left"
    wait_for(lambda: my_usage(keyed, ALICE)["limits"][0]["used"] == 0, "the abandoned request to be released")


def test_fifty_requests_at_once_against_a_limit_of_ten(keyed: Proxy) -> None:
    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as client:
            async def one() -> int:
                answer = await client.post(keyed.v1 + "/chat/completions", headers={"authorization": f"Bearer {BOB}"},
                                           json={"model": "gpt-5.4", "messages": [{"role": "user", "content": "x"}]})
                return answer.status_code
            return list(await asyncio.gather(*(one() for _ in range(50))))

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 40


def test_usage_answers_for_the_calling_key_only(keyed: Proxy) -> None:
    spend(keyed, 1)
    alice = my_usage(keyed, ALICE)
    assert alice["key"] == "alice" and "pool" not in alice
    assert alice["limits"][0] | {"resets_at": 0, "resets_at_utc": ""} == {
        "limit": "2 requests per hour (calendar, UTC)", "unit": "requests", "per": "hour", "window": "calendar",
        "allowed": 2, "used": 1, "remaining": 1, "resets_at": 0, "resets_at_utc": ""}
    bob = my_usage(keyed, BOB)
    assert bob["key"] == "bob" and [limit["used"] for limit in bob["limits"]] == [0, 0]
    assert "accounts" in bob["pool"] or bob["pool"]  # bob's owner lets him see the pool's quota
    # The key decides whose usage this is, not a parameter.
    other = httpx.get(keyed.v1 + "/usage?key=" + ALICE, headers={"authorization": f"Bearer {BOB}"}).json()
    assert other["key"] == "bob"
    plain = my_usage(keyed, PLAIN)
    assert plain["limits"] == [] and "alice" not in str(plain)


def test_codex_usage_route_hides_the_pool_from_a_key_that_may_not_see_it(keyed: Proxy) -> None:
    hidden = httpx.get(keyed.url + "/backend-api/wham/usage", headers={"authorization": f"Bearer {ALICE}"})
    assert hidden.status_code == 403 and "/v1/usage" in hidden.json()["error"]["message"]
    shown = httpx.get(keyed.url + "/backend-api/wham/usage", headers={"authorization": f"Bearer {BOB}"})
    assert shown.status_code == 200


def test_a_disabled_or_expired_key_is_refused_by_name(fake: FakeCodex, auth_dir: Path) -> None:
    keys = {"client-keys": [{"name": "old", "key": ALICE, "expires": "2020-01-01"},
                            {"name": "off", "key": BOB, "disabled": True}]}
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **keys) as proxy:  # type: ignore[attr-defined]
        expired, disabled = chat(proxy, ALICE), chat(proxy, BOB)
    assert expired.status_code == 401 and "expired at 2020-01-01 00:00:00 UTC" in expired.json()["error"]["message"]
    assert disabled.status_code == 401 and "'off' is disabled" in disabled.json()["error"]["message"]


CONFIG = f"""client-keys:
  - name: alice
    key: {ALICE}
    limits:
      - requests: 2
        per: day
        window: calendar
"""


def test_a_restart_keeps_the_counts_and_history_is_kept_by_key_name(tmp_path: Path, fake: FakeCodex) -> None:
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, upstream, CONFIG) as proxy:
        spend(proxy)
        path = proxy.services.ops.usage.path if proxy.services.ops.usage else None
    with run_configured(tmp_path, upstream, CONFIG) as proxy:
        assert chat(proxy).status_code == 429
        assert my_usage(proxy, ALICE)["recent"]["totals"]["requests"] == 2
    assert path is not None
    by_key = summary(path, 0, 2e9, ["key"])["by_key"]
    assert [(row["key"], row["requests"]) for row in by_key] == [("alice", 2)]
