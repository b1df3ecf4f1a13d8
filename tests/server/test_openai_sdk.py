"""The official ``openai`` SDK against the real server on a socket, with the fake Codex backend behind it."""

from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy

TOKEN = "tok-a"


def client(proxy: Proxy, key: str = "sk-local-1") -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=key, max_retries=0)


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def test_chat_stream_yields_text_usage_and_ends(proxy: Proxy, fake: FakeCodex) -> None:
    chunks = list(client(proxy).chat.completions.create(model="gpt-5.4", messages=user("hi"), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 10
    assert {c.id for c in chunks} == {"resp_1"}


def test_chat_non_stream_and_the_upstream_request_shape(proxy: Proxy, fake: FakeCodex) -> None:
    reply = client(proxy).chat.completions.create(
        model="gpt-5.4", messages=[{"role": "system", "content": "be brief"}, *user("hi")],
        temperature=0.2, max_tokens=50)
    assert reply.choices[0].message.content == "Hello"
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    sent = fake.inference_requests()[0]
    assert sent.path == "/backend-api/codex/responses"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["chatgpt-account-id"] == "acc-1"
    assert sent.headers["originator"] == "codex-tui"
    body = sent.body
    assert body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["input"][0]["role"] == "developer" and body["instructions"] == ""
    assert body["tools"] == [{"type": "image_generation", "output_format": "png"}]
    assert "temperature" not in body and "max_tokens" not in body
    # UUIDv5 of the client key, mirrored into the session header.
    assert body["prompt_cache_key"] == "4dea7d24-fbf0-5b07-add7-fccdd164fdda"
    assert sent.headers["session_id"] == body["prompt_cache_key"]


def test_parallel_tool_calls_round_trip(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream(calls=2)))
    tools: list[ChatCompletionToolParam] = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    sdk = client(proxy)
    first = sdk.chat.completions.create(model="gpt-5.4", messages=user("weather?"), tools=tools)
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert calls is not None and [c.id for c in calls] == ["call_1", "call_2"]
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Tokyo"]  # type: ignore[union-attr]
    history = [*user("weather?"), first.choices[0].message.model_dump(exclude_none=True)]
    history += [{"role": "tool", "tool_call_id": c.id, "content": f"sunny {n}"} for n, c in enumerate(calls)]
    sdk.chat.completions.create(model="gpt-5.4", messages=history, tools=tools)  # type: ignore[arg-type]
    items = fake.inference_requests()[-1].body["input"]
    kinds = [(i.get("type"), i.get("call_id")) for i in items]
    assert kinds[1:] == [("function_call", "call_1"), ("function_call", "call_2"),
                         ("function_call_output", "call_1"), ("function_call_output", "call_2")]
    assert not any(i.get("role") == "assistant" and not i.get("content") for i in items)


def test_streamed_parallel_tool_calls_have_distinct_indexes(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream(calls=2)))
    stream = client(proxy).chat.completions.create(model="gpt-5.4", messages=user("w"), stream=True)
    args: dict[int, str] = {}
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            args[call.index] = args.get(call.index, "") + (call.function.arguments or "")  # type: ignore[union-attr]
    assert {i: json.loads(a)["city"] for i, a in args.items()} == {0: "Paris", 1: "Tokyo"}


def test_image_input_reaches_upstream_as_input_image(proxy: Proxy, fake: FakeCodex) -> None:
    url = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    client(proxy).chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": content}])  # type: ignore[misc,list-item]
    parts = fake.inference_requests()[0].body["input"][0]["content"]
    assert {"type": "input_image", "image_url": url} in parts


def test_reasoning_suffix_sets_effort_and_base_model(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.reason_stream()))
    reply = client(proxy).chat.completions.create(model="gpt-5.4(high)", messages=user("hi"))
    body = fake.inference_requests()[0].body
    assert body["model"] == "gpt-5.4" and body["reasoning"]["effort"] == "high"
    assert reply.choices[0].message.content == "Hello"
    assert reply.choices[0].message.reasoning_content == "think"  # type: ignore[attr-defined]


def test_responses_stream_passes_every_event_and_fills_output(proxy: Proxy, fake: FakeCodex) -> None:
    with client(proxy).responses.stream(model="gpt-5.4", input="hi") as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[types.index("response.created"):] == [e["type"] for e in ev.text_stream()[2:]]
    assert final.output_text == "Hello"


def test_responses_non_stream_rebuilds_empty_output(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream()))
    response = client(proxy).responses.create(model="gpt-5.4", input="weather?")
    assert response.output[0].type == "function_call"
    assert response.output[0].arguments == '{"city":"Paris"}'


def test_responses_passthrough_keeps_unknown_fields_and_adds_no_image_tool(proxy: Proxy, fake: FakeCodex) -> None:
    body = {"model": "gpt-5.4", "stream": True, "input": [
        {"type": "message", "id": "msg_1", "role": "system", "content": [{"type": "input_text", "text": "s"}]}],
        "tools": [{"type": "tool_search", "execution": "client"}, {"type": "web_search_preview"}],
        "client_metadata": {"x-codex-window-id": "w:0"}, "temperature": 1, "previous_response_id": "r",
        "service_tier": "flex", "prompt_cache_key": "pck"}
    with httpx.stream("POST", proxy.v1 + "/responses", json=body,
                      headers={"authorization": "Bearer sk-local-1"}) as response:
        assert response.status_code == 200
        response.read()
    sent = fake.inference_requests()[0]
    assert sent.body["client_metadata"] == {"x-codex-window-id": "w:0"}
    assert sent.body["tools"] == [{"type": "tool_search", "execution": "client"}, {"type": "web_search"}]
    assert sent.body["input"][0]["role"] == "developer" and sent.body["input"][0]["id"] == "msg_1"
    assert "service_tier" not in sent.body and "temperature" not in sent.body
    assert sent.body["prompt_cache_key"] == "pck" and sent.headers["session_id"] == "pck"


def test_legacy_completions(proxy: Proxy, fake: FakeCodex) -> None:
    reply = client(proxy).completions.create(model="gpt-5.4", prompt="Say hello")
    assert reply.object == "text_completion" and reply.choices[0].text == "Hello"
    stream = client(proxy).completions.create(model="gpt-5.4", prompt="Say hello", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "Hello"


def test_models_list_openai_shape(proxy: Proxy) -> None:
    models = client(proxy).models.list()
    ids = [m.id for m in models]
    assert "gpt-5.4" in ids
    raw = httpx.get(proxy.v1 + "/models", headers={"authorization": "Bearer sk-local-1"}).json()
    assert set(raw["data"][0]) == {"id", "object", "created", "owned_by"}


def test_bad_json_is_a_clear_400(proxy: Proxy) -> None:
    response = httpx.post(proxy.v1 + "/chat/completions", content=b"{not json",
                          headers={"authorization": "Bearer sk-local-1", "content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "JSON" in error["message"]


def test_missing_and_invalid_api_key(proxy: Proxy) -> None:
    missing = httpx.post(proxy.v1 + "/chat/completions", json={"model": "gpt-5.4", "messages": user("hi")})
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(proxy, key="sk-wrong").chat.completions.create(model="gpt-5.4", messages=user("hi"))
    assert wrong.value.status_code == 401
    assert wrong.value.body["code"] == "invalid_api_key"  # type: ignore[index]


def test_unknown_model_is_404_model_not_found(proxy: Proxy, fake: FakeCodex) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client(proxy).chat.completions.create(model="gpt-9000", messages=user("hi"))
    assert err.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert not fake.inference_requests()


def test_upstream_429_keeps_status_and_retry_after(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(status=429, body={"error": {"type": "usage_limit_reached",
                                                         "message": "The usage limit has been reached",
                                                         "plan_type": "plus", "resets_in_seconds": 120}}))
    with pytest.raises(openai.RateLimitError) as err:
        client(proxy).chat.completions.create(model="gpt-5.4", messages=user("hi"))
    retry_after = int(err.value.response.headers["retry-after"])
    assert 100 <= retry_after <= 121
    assert "usage limit" in err.value.message.lower()


def test_upstream_cut_after_content_ends_with_one_error_chunk(proxy: Proxy, fake: FakeCodex) -> None:
    events = ev.text_stream(["Hel", "lo", " world"])
    fake.script(TOKEN, Reply(events=events, cut_after=8))
    with httpx.stream("POST", proxy.v1 + "/chat/completions", headers={"authorization": "Bearer sk-local-1"},
                      json={"model": "gpt-5.4", "messages": user("hi"), "stream": True}) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in lines[-1]
    assert json.loads(lines[-1][6:])["error"]["code"] == "stream_disconnected"
    assert sum("error" in json.loads(line[6:]) for line in lines) == 1
    with pytest.raises(openai.APIError):
        fake.script(TOKEN, Reply(events=events, cut_after=8))
        list(client(proxy).chat.completions.create(model="gpt-5.4", messages=user("hi"), stream=True))


def test_upstream_cut_before_any_event_is_retried_on_the_only_account(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(cut_after=0))
    chunks = list(client(proxy).chat.completions.create(model="gpt-5.4", messages=user("hi"), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert len(fake.inference_requests()) == 2


def test_upstream_cut_before_any_event_every_time_is_a_502_status(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, *[Reply(cut_after=0)] * 3)  # the first attempt and both same-account retries
    with pytest.raises(openai.InternalServerError) as err:
        client(proxy).chat.completions.create(model="gpt-5.4", messages=user("hi"), stream=True)
    assert err.value.status_code == 502 and len(fake.inference_requests()) == 3


def test_invalid_upstream_json_ends_responses_stream_with_error_event(proxy: Proxy, fake: FakeCodex) -> None:
    created = json.dumps(ev.preamble()[2]).encode()
    delta = json.dumps(ev.message_events(["x"])[2]).encode()
    fake.script(TOKEN, Reply(raw_lines=[created, delta, b"{broken"]))
    with httpx.stream("POST", proxy.v1 + "/responses", headers={"authorization": "Bearer sk-local-1"},
                      json={"model": "gpt-5.4", "input": "hi", "stream": True}) as response:
        body = response.read().decode()
    assert body.rstrip().endswith("}") and "event: error" in body
    error = json.loads(body.split("event: error\ndata: ")[1].split("\n")[0])
    assert error["code"] == "internal_server_error" and "invalid SSE data JSON" in error["message"]
