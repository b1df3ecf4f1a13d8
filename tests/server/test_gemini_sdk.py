"""The official ``google-genai`` SDK against the real server on a socket, the fake Codex backend behind it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy

TOKEN = "tok-a"
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}))])


def client(proxy: Proxy, key: str = "sk-local-1", timeout_ms: int = 10_000) -> genai.Client:
    options = types.HttpOptions(base_url=proxy.url, api_version="v1beta", timeout=timeout_ms,
                                retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


def test_generate_content(proxy: Proxy, fake: FakeCodex) -> None:
    config = types.GenerateContentConfig(system_instruction="be brief",
                                         thinking_config=types.ThinkingConfig(thinking_budget=20000))
    sdk = client(proxy)
    response = sdk.models.generate_content(model="gpt-5.4", contents="hi", config=config)
    assert response.text == "Hello"
    assert response.usage_metadata is not None and response.usage_metadata.total_token_count == 15
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    body = fake.inference_requests()[0].body
    assert body["model"] == "gpt-5.4" and body["reasoning"]["effort"] == "high"
    assert body["input"][0] == {"type": "message", "role": "developer",
                                "content": [{"type": "input_text", "text": "be brief"}]}


def test_generate_content_stream(proxy: Proxy, fake: FakeCodex) -> None:
    sdk = client(proxy)
    chunks = list(sdk.models.generate_content_stream(model="gpt-5.4", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello"
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.prompt_token_count == 10
    assert fake.inference_requests()[0].body["stream"] is True


def test_function_call_turn(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream()))
    sdk = client(proxy)
    config = types.GenerateContentConfig(tools=[WEATHER])
    first = sdk.models.generate_content(model="gpt-5.4", contents="weather in Paris?", config=config)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    assert first.function_calls[0].args == {"city": "Paris"}
    assert first.candidates and first.candidates[0].content is not None
    history = [types.Content(role="user", parts=[types.Part(text="weather in Paris?")]),
               first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="get_weather", response={"result": "sunny"})])]
    second = sdk.models.generate_content(model="gpt-5.4", contents=history, config=config)
    assert second.text == "Hello"
    sent = fake.inference_requests()[1].body
    call = next(i for i in sent["input"] if i["type"] == "function_call")
    output = next(i for i in sent["input"] if i["type"] == "function_call_output")
    assert call["name"] == "get_weather" and output == {"type": "function_call_output", "output": "sunny",
                                                        "call_id": call["call_id"]}
    assert sent["tools"][0]["parameters"]["type"] == "object" and sent["tool_choice"] == "auto"


def test_stream_function_call(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream()))
    sdk = client(proxy)
    chunks = list(sdk.models.generate_content_stream(
        model="gpt-5.4", contents="weather?", config=types.GenerateContentConfig(tools=[WEATHER])))
    calls = [fc for c in chunks for fc in c.function_calls or []]
    assert [(fc.name, fc.args) for fc in calls] == [("get_weather", {"city": "Paris"})]


def test_count_tokens_is_local(proxy: Proxy, fake: FakeCodex) -> None:
    sdk = client(proxy)
    result = sdk.models.count_tokens(model="gpt-5.4", contents="hello there, how are you?")
    assert result.total_tokens is not None and result.total_tokens >= 5
    assert not fake.requests


def test_models_list_and_get(proxy: Proxy) -> None:
    sdk = client(proxy)
    names = [m.name for m in sdk.models.list()]
    assert "models/gpt-5.4" in names
    model = sdk.models.get(model="gpt-5.4")
    assert model.name == "models/gpt-5.4" and model.supported_actions == ["generateContent"]
    with pytest.raises(errors.ClientError) as missing:
        sdk.models.get(model="gemini-9-ultra")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"


def test_upstream_429_becomes_sdk_error(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(status=429, body={"error": {"type": "usage_limit_reached",
                                                         "message": "The usage limit has been reached",
                                                         "resets_in_seconds": 60}}))
    sdk = client(proxy)
    with pytest.raises(errors.ClientError) as err:
        sdk.models.generate_content(model="gpt-5.4", contents="hi")
    assert err.value.code == 429 and err.value.status == "RESOURCE_EXHAUSTED"


def test_mid_stream_failure_raises_in_the_sdk(proxy: Proxy, fake: FakeCodex) -> None:
    failed = {"type": "response.failed", "response": {"error": {"code": "server_error", "message": "boom"}}}
    fake.script(TOKEN, Reply(events=[*ev.preamble(), *ev.message_events(["partial"])[:3], failed]))
    seen: list[str] = []
    sdk = client(proxy)
    with pytest.raises(errors.APIError) as err:
        for chunk in sdk.models.generate_content_stream(model="gpt-5.4", contents="hi"):
            seen.append(chunk.text or "")
    assert "partial" in seen and "boom" in str(err.value)


def test_wrong_key_unknown_action_and_model(proxy: Proxy) -> None:
    stranger, sdk = client(proxy, key="wrong"), client(proxy)
    with pytest.raises(errors.ClientError) as auth:
        stranger.models.generate_content(model="gpt-5.4", contents="hi")
    assert auth.value.code == 401
    raw = httpx.post(proxy.url + "/v1beta/models/gpt-5.4:embedContent?key=sk-local-1", json={})
    assert raw.status_code == 404 and raw.json()["error"]["status"] == "NOT_FOUND"
    with pytest.raises(errors.ClientError) as unknown:
        sdk.models.generate_content(model="gemini-9-ultra", contents="hi")
    assert unknown.value.code == 404


def test_keepalive_survives_a_long_silence(fake: FakeCodex, auth_dir: Path) -> None:
    fake.default = Reply(first_delay=2.0)
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", streaming={"keepalive-seconds": 0.3}) as proxy:  # type: ignore[attr-defined]
        sdk = client(proxy)
        chunks = list(sdk.models.generate_content_stream(model="gpt-5.4", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello"
