"""What a client acts on is what it would get from the real API: the official SDKs against the real
server on a socket, the fake Codex backend behind it, one story per translation detail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam, MetadataParam
from google import genai
from google.genai import types as gtypes

from cliproxy.errors import Blame
from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy, write_account

TOKEN = "tok-a"
KEY = "sk-local-1"
USER: list[MessageParam] = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: Any = {"name": "get_weather", "description": "weather", "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
SESSION_USER_ID = json.dumps({"device_id": "d" * 64, "account_uuid": "",
                              "session_id": "ae050077-1111-2222-3333-444455556666"})


def claude(proxy: Proxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=KEY, max_retries=0)


def chat(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=KEY, max_retries=0)


def gemini(proxy: Proxy) -> genai.Client:
    """Keep the client in a variable while it is used: a collected client closes its connections."""
    return genai.Client(api_key=KEY, http_options=gtypes.HttpOptions(
        base_url=proxy.url, api_version="v1beta", retry_options=gtypes.HttpRetryOptions(attempts=1)))


def sent(fake: FakeCodex, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = fake.inference_requests()[index].body
    return body


def overflow() -> list[dict[str, Any]]:
    """The backend accepts the request, then finds the input larger than the model's window."""
    failed = {"id": "resp_1", "object": "response", "status": "failed", "model": "gpt-5.4", "output": [],
              "error": {"code": "context_length_exceeded",
                        "message": "Your input exceeds the context window of this model."}}
    return [*ev.preamble(), {"type": "response.failed", "response": failed}]


# ---- 1. Chat function tools ------------------------------------------------------------------------

def test_chat_function_tools_go_upstream_non_strict_unless_the_client_asked(proxy: Proxy, fake: FakeCodex) -> None:
    loose: Any = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    strict: Any = {"name": "get_time", "parameters": {"type": "object", "properties": {}, "additionalProperties": False,
                                                 "required": []}, "strict": True}
    chat(proxy).chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}],
                                        tools=[{"type": "function", "function": loose},
                                               {"type": "function", "function": strict}])
    tools = {tool["name"]: tool for tool in sent(fake)["tools"] if tool["type"] == "function"}
    assert tools["get_weather"]["strict"] is False and tools["get_time"]["strict"] is True


# ---- 2. prompt_cache_key for every dialect ---------------------------------------------------------

def test_a_claude_conversation_without_a_session_keeps_one_prompt_cache_key(proxy: Proxy, fake: FakeCodex) -> None:
    sdk = claude(proxy)
    sdk.messages.create(model="gpt-5.4", max_tokens=100, system="be brief", messages=USER)
    history: list[MessageParam] = [*USER, {"role": "assistant", "content": "Hello"},
                                   {"role": "user", "content": "more"}]
    sdk.messages.create(model="gpt-5.4", max_tokens=100, system="be brief", messages=history)
    sdk.messages.create(model="gpt-5.4", max_tokens=100, system="be brief",
                        messages=[{"role": "user", "content": "another topic"}])
    keys = [request.body.get("prompt_cache_key") for request in fake.inference_requests()]
    assert keys[0] and keys[0] == keys[1] != keys[2]
    assert fake.inference_requests()[1].headers["session_id"] == keys[0]


def test_a_claude_code_session_names_its_prompt_cache(proxy: Proxy, fake: FakeCodex) -> None:
    sdk = claude(proxy)
    for text in ("hi", "something else entirely"):
        sdk.messages.create(model="gpt-5.4", max_tokens=100, messages=[{"role": "user", "content": text}],
                            metadata={"user_id": SESSION_USER_ID})
    keys = [request.body["prompt_cache_key"] for request in fake.inference_requests()]
    assert keys[0] == keys[1]  # the session, not the content, names the conversation


def test_a_gemini_conversation_keeps_one_prompt_cache_key(proxy: Proxy, fake: FakeCodex) -> None:
    client = gemini(proxy)
    hi = gtypes.Content(role="user", parts=[gtypes.Part(text="hi")])
    client.models.generate_content(model="gpt-5.4", contents=[hi])
    client.models.generate_content(model="gpt-5.4", contents=[
        hi, gtypes.Content(role="model", parts=[gtypes.Part(text="Hello")]),
        gtypes.Content(role="user", parts=[gtypes.Part(text="more")])])
    client.models.generate_content(model="gpt-5.4", contents="another topic")
    keys = [request.body.get("prompt_cache_key") for request in fake.inference_requests()]
    assert keys[0] and keys[0] == keys[1] != keys[2]


def test_a_responses_clients_own_prompt_cache_key_is_passed_on(proxy: Proxy, fake: FakeCodex) -> None:
    chat(proxy).responses.create(model="gpt-5.4", input="hi", prompt_cache_key="thread-42")
    assert sent(fake)["prompt_cache_key"] == "thread-42"
    assert fake.inference_requests()[-1].headers["session_id"] == "thread-42"


# ---- 3. Claude message_start -----------------------------------------------------------------------

def test_claude_message_start_reports_the_prompts_size(proxy: Proxy, fake: FakeCodex) -> None:
    sdk = claude(proxy)
    messages: list[MessageParam] = [{"role": "user", "content": "Summarise the plot of Hamlet in one line."}]
    counted = sdk.messages.count_tokens(model="gpt-5.4", system="be brief", messages=messages).input_tokens
    with sdk.messages.stream(model="gpt-5.4", max_tokens=100, system="be brief", messages=messages) as stream:
        start = next(event for event in stream if event.type == "message_start")
        assert counted / 2 <= start.message.usage.input_tokens <= counted * 2  # an estimate, no tokenizer
        final = stream.get_final_message()
    assert final.usage.input_tokens == 6  # the backend's own figure (10 in, 4 cached) once it is known


# ---- 4. Gemini function call ids -------------------------------------------------------------------

def test_gemini_function_calls_carry_the_call_id_and_responses_map_back_by_it(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream(calls=2)))
    client = gemini(proxy)
    tool = gtypes.Tool(function_declarations=[gtypes.FunctionDeclaration(name="get_weather")])
    asked = gtypes.Content(role="user", parts=[gtypes.Part(text="weather in Paris and Tokyo?")])
    answer = client.models.generate_content(model="gpt-5.4", contents=[asked],
                                            config=gtypes.GenerateContentConfig(tools=[tool]))
    calls = answer.function_calls or []
    assert [(call.id, (call.args or {})["city"]) for call in calls] == [("call_1", "Paris"), ("call_2", "Tokyo")]
    results = [gtypes.Part(function_response=gtypes.FunctionResponse(id=call.id, name=call.name,
                                                                     response={"result": f"sunny in {call.id}"}))
               for call in reversed(calls)]  # answered in the other order: the ids say which is which
    client.models.generate_content(model="gpt-5.4", config=gtypes.GenerateContentConfig(tools=[tool]), contents=[
        asked, gtypes.Content(role="model", parts=[gtypes.Part(function_call=call) for call in calls]),
        gtypes.Content(role="user", parts=results)])
    items = sent(fake)["input"]
    assert [item["call_id"] for item in items if item["type"] == "function_call"] == ["call_1", "call_2"]
    outputs = {item["call_id"]: item["output"] for item in items if item["type"] == "function_call_output"}
    assert outputs == {"call_1": "sunny in call_1", "call_2": "sunny in call_2"}


# ---- 5. Responses mid-stream error ------------------------------------------------------------------

def test_a_responses_mid_stream_error_continues_the_sequence_numbers(proxy: Proxy, fake: FakeCodex) -> None:
    events = [e for e in ev.text_stream() if not e["type"].startswith("codex.")]
    numbered = [{**event, "sequence_number": n} for n, event in enumerate(events)]
    fake.script(TOKEN, Reply(events=numbered, cut_after=5))  # content went out, then the connection broke
    stream = chat(proxy).responses.create(model="gpt-5.4", input="hi", stream=True)
    received = list(stream)
    assert received[-1].type == "error"
    assert [event.sequence_number for event in received] == list(range(6))


# ---- 6. interleaved parallel calls on the Anthropic stream -----------------------------------------

def interleaved_calls() -> list[dict[str, Any]]:
    """Two calls whose events alternate by ``output_index``, as the backend sends parallel calls."""
    paris = ev.tool_events("call_1", args=('{"city":', '"Paris"}'), index=0)
    tokyo = ev.tool_events("call_2", args=('{"city":', '"Tokyo"}'), index=1)
    mixed = [event for pair in zip(paris, tokyo, strict=True) for event in pair]
    return [*ev.preamble(), *mixed, ev.completed()]


def test_interleaved_parallel_calls_each_keep_their_own_input(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=interleaved_calls()))
    with claude(proxy).messages.stream(model="gpt-5.4", max_tokens=100, messages=USER,
                                       tools=[WEATHER_TOOL]) as stream:
        final = stream.get_final_message()
    uses = [(block.id, block.input) for block in final.content if block.type == "tool_use"]
    assert uses == [("call_1", {"city": "Paris"}), ("call_2", {"city": "Tokyo"})]
    assert final.stop_reason == "tool_use"


# ---- 7. a failure right after response.created -----------------------------------------------------

def test_an_early_context_overflow_is_a_400_on_chat(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=overflow()))
    with pytest.raises(openai.BadRequestError) as caught:
        stream = chat(proxy).chat.completions.create(model="gpt-5.4", stream=True,
                                                     messages=[{"role": "user", "content": "hi"}])
        list(stream)
    assert caught.value.status_code == 400 and caught.value.code == "context_too_large"


def test_an_early_context_overflow_is_a_400_on_messages(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=overflow()))
    with pytest.raises(anthropic.BadRequestError) as caught, \
            claude(proxy).messages.stream(model="gpt-5.4", max_tokens=100, messages=USER) as stream:
        stream.get_final_message()
    assert caught.value.status_code == 400 and "context window" in caught.value.message


def test_an_early_context_overflow_is_a_400_on_responses_and_gemini(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=overflow()), Reply(events=overflow()))
    with pytest.raises(openai.BadRequestError):
        list(chat(proxy).responses.create(model="gpt-5.4", input="hi", stream=True))
    client = gemini(proxy)
    with pytest.raises(genai.errors.ClientError) as caught:
        list(client.models.generate_content_stream(model="gpt-5.4", contents="hi"))
    assert caught.value.code == 400


# ---- 8. a rejected thinking signature ----------------------------------------------------------------

def test_a_rejected_signature_is_forgotten_and_the_next_turn_is_clean(proxy: Proxy, fake: FakeCodex) -> None:
    rejected = {"error": {"type": "invalid_request_error", "code": "invalid_encrypted_content",
                          "message": "The encrypted content could not be verified."}}
    fake.script(TOKEN, Reply(events=ev.reason_stream()), Reply(status=400, body=rejected), Reply())
    sdk, meta = claude(proxy), MetadataParam(user_id=SESSION_USER_ID)
    sdk.messages.create(model="gpt-5.4", max_tokens=2000, messages=USER, metadata=meta)
    # Claude Code re-sends the answer without its thinking: the proxy puts the reasoning back...
    history: list[MessageParam] = [*USER, {"role": "assistant", "content": "Hello"},
                                   {"role": "user", "content": "and then?"}]
    with pytest.raises(anthropic.BadRequestError):
        sdk.messages.create(model="gpt-5.4", max_tokens=2000, messages=history, metadata=meta)
    assert any(item.get("type") == "reasoning" for item in sent(fake, 1)["input"])
    # ...the backend refused it, so the next turn goes without it and succeeds.
    sdk.messages.create(model="gpt-5.4", max_tokens=2000, messages=history, metadata=meta)
    assert not any(item.get("type") == "reasoning" for item in sent(fake, 2)["input"])


# ---- 9. model lists ----------------------------------------------------------------------------------

@pytest.fixture
def needs_login(tmp_path: Path, fake: FakeCodex) -> Iterator[Proxy]:
    """Account ``a`` works; account ``b``, the only one under the ``work`` prefix, needs a new login."""
    auth = tmp_path / "auth"
    write_account(auth, "a", TOKEN, "acc-1")
    write_account(auth, "b", "tok-b", "acc-2", prefix="work", auth_error="refresh_token_reused")
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as running:  # type: ignore[attr-defined]
        yield running


def test_models_whose_only_accounts_need_a_login_are_not_listed(needs_login: Proxy) -> None:
    listed = [model.id for model in chat(needs_login).models.list()]
    assert "gpt-5.4" in listed and not any(name.startswith("work/") for name in listed)
    client = gemini(needs_login)
    names = [model.name for model in client.models.list()]
    assert "models/gpt-5.4" in names and not any("work/" in str(name) for name in names)
    catalogue = httpx.get(needs_login.v1 + "/models", params={"client_version": "0.170.0"},
                          headers={"authorization": f"Bearer {KEY}"}).json()
    assert not any(entry["slug"].startswith("work/") for entry in catalogue["models"])


def test_the_same_models_are_listed_once_the_account_is_signed_in(tmp_path: Path, fake: FakeCodex) -> None:
    auth = tmp_path / "auth"
    write_account(auth, "a", TOKEN, "acc-1")
    write_account(auth, "b", "tok-b", "acc-2", prefix="work")
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY]}) as running:  # type: ignore[attr-defined]
        assert "work/gpt-5.4" in [model.id for model in chat(running).models.list()]


# ---- 10. Gemini stream without alt=sse ----------------------------------------------------------------

def test_gemini_stream_without_alt_sse_is_one_json_array(proxy: Proxy, fake: FakeCodex) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = httpx.post(f"{proxy.url}/v1beta/models/gpt-5.4:streamGenerateContent", json=body,
                        headers={"x-goog-api-key": KEY})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    chunks = [gtypes.GenerateContentResponse.model_validate(element) for element in answer.json()]
    assert "".join(chunk.text or "" for chunk in chunks) == "Hello"
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.total_token_count == 15
    client = gemini(proxy)
    sse = list(client.models.generate_content_stream(model="gpt-5.4", contents="hi"))  # alt=sse
    assert "".join(chunk.text or "" for chunk in sse) == "Hello"


# ---- 12. Cloudflare's own 5xx ------------------------------------------------------------------------

CLOUDFLARE_521 = (b"<!DOCTYPE html><html><head><title>chatgpt.com | 521: Web server is down</title></head>"
                  b"<body>Cloudflare Ray ID: 8f00000000000000</body></html>")


@pytest.fixture
def two_accounts(tmp_path: Path, fake: FakeCodex) -> Iterator[Proxy]:
    auth = tmp_path / "auth"
    write_account(auth, "a", TOKEN, "acc-1")
    write_account(auth, "b", "tok-b", "acc-2")
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY], "routing": {  # type: ignore[attr-defined]
            "strategy": "fill-first"}}) as running:
        yield running


def test_a_cloudflare_521_is_the_upstreams_blip_and_another_account_serves(two_accounts: Proxy,
                                                                           fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(status=521, body=CLOUDFLARE_521))
    answer = chat(two_accounts).chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Hello"
    tokens = [request.headers["authorization"][7:] for request in fake.inference_requests()]
    assert tokens == [TOKEN, "tok-b"]


def test_a_cloudflare_521_is_retried_on_the_same_account_then_reaches_the_client_as_a_502(
        proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, *[Reply(status=521, body=CLOUDFLARE_521)] * 3)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(proxy).chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502 and caught.value.code == "upstream_unavailable"
    assert "<html" not in caught.value.message.lower()
    assert len(fake.inference_requests()) == 3  # the only account, tried again after short backoffs
    pool = proxy.services.runner.pool
    assert pool.state(pool.credentials()[0].id).blame is not Blame.ACCOUNT
