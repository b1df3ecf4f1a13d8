"""The official ``anthropic`` SDK against the real server on a socket, the fake Codex backend behind it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx
import pytest
from anthropic.types import ContentBlockParam, MessageParam, ToolParam, ToolResultBlockParam
from pydantic import BaseModel

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy

TOKEN = "tok-a"
USER: list[MessageParam] = [{"role": "user", "content": "hi"}]
CLAUDE_CODE_USER_ID = json.dumps({"device_id": "d" * 64, "account_uuid": "",
                                  "session_id": "ae050077-1111-2222-3333-444455556666"})


def client(proxy: Proxy, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key="sk-local-1", max_retries=0, **kwargs)


def as_params(blocks: Iterable[BaseModel]) -> list[ContentBlockParam]:
    """Response blocks sent back as history the way a client does it: their JSON, unchanged."""
    return [cast("ContentBlockParam", block.model_dump()) for block in blocks]


def test_text_stream(proxy: Proxy, fake: FakeCodex) -> None:
    with client(proxy).messages.stream(model="gpt-5.4", max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 6 and final.usage.cache_read_input_tokens == 4  # 10 in, 4 of them cached
    assert final.usage.output_tokens == 5


def test_non_stream(proxy: Proxy, fake: FakeCodex) -> None:
    message = client(proxy).messages.create(model="gpt-5.4", max_tokens=100, messages=USER,
                                            system="be brief")
    assert message.content[0].type == "text" and message.content[0].text == "Hello"
    body = fake.inference_requests()[0].body
    assert body["input"][0] == {"type": "message", "role": "developer",
                                "content": [{"type": "input_text", "text": "be brief"}]}
    assert body["tools"] == [{"type": "image_generation", "output_format": "png"}]


def test_thinking_signature_round_trips_to_the_next_turn(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.reason_stream()))
    sdk = client(proxy)
    first = sdk.messages.create(model="gpt-5.4", max_tokens=2000, messages=USER,
                                thinking={"type": "enabled", "budget_tokens": 1024})
    thinking = next(block for block in first.content if block.type == "thinking")
    assert thinking.thinking == "think" and thinking.signature == ev.BLOB
    history: list[MessageParam] = [*USER, {"role": "assistant", "content": as_params(first.content)},
                                   {"role": "user", "content": "and then?"}]
    sdk.messages.create(model="gpt-5.4", max_tokens=2000, messages=history,
                        thinking={"type": "enabled", "budget_tokens": 1024})
    second = fake.inference_requests()[1].body
    reasoning = [item for item in second["input"] if item.get("type") == "reasoning"]
    assert reasoning and reasoning[0]["encrypted_content"] == ev.BLOB
    assert second["reasoning"]["effort"] == "low"  # budget 1024 → low (docs/routes.md, "Reasoning effort")


def test_parallel_tool_use_then_results(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.tool_stream(calls=2)))
    tools: list[ToolParam] = [{"name": "get_weather", "description": "weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    sdk = client(proxy)
    with sdk.messages.stream(model="gpt-5.4", max_tokens=100, messages=USER, tools=tools) as stream:
        first = stream.get_final_message()
    uses = [block for block in first.content if block.type == "tool_use"]
    assert first.stop_reason == "tool_use"
    assert [(u.id, u.input) for u in uses] == [("call_1", {"city": "Paris"}), ("call_2", {"city": "Tokyo"})]
    results: list[ToolResultBlockParam] = [{"type": "tool_result", "tool_use_id": u.id, "content": f"sunny {n}"}
                                           for n, u in enumerate(uses)]
    history: list[MessageParam] = [*USER, {"role": "assistant", "content": as_params(uses)},
                                   {"role": "user", "content": results}]
    sdk.messages.create(model="gpt-5.4", max_tokens=100, messages=history, tools=tools)
    items = fake.inference_requests()[1].body["input"]
    pairs = [(item["type"], item["call_id"]) for item in items if "call_id" in item]
    assert pairs == [("function_call", "call_1"), ("function_call", "call_2"),
                     ("function_call_output", "call_1"), ("function_call_output", "call_2")]


def test_image_input(proxy: Proxy, fake: FakeCodex) -> None:
    data = base64.b64encode(b"\x89PNG fake").decode()
    content: list[ContentBlockParam] = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
        {"type": "text", "text": "what is it?"}]
    client(proxy).messages.create(model="gpt-5.4", max_tokens=10, messages=[{"role": "user", "content": content}])
    parts = fake.inference_requests()[0].body["input"][0]["content"]
    assert {"type": "input_image", "image_url": f"data:image/png;base64,{data}"} in parts


def test_count_tokens_locally_without_model_or_upstream(proxy: Proxy, fake: FakeCodex) -> None:
    count = client(proxy).messages.count_tokens(model="gpt-5.4", messages=[{"role": "user", "content": "hello world"}])
    assert count.input_tokens >= 2
    raw = httpx.post(proxy.v1 + "/messages/count_tokens", headers={"x-api-key": "sk-local-1"},
                     json={"messages": [{"role": "user", "content": "foo"}], "tools": []})
    assert raw.status_code == 200 and raw.json()["input_tokens"] >= 1
    assert not fake.requests


@pytest.mark.parametrize(("reply", "error_type", "exception"), [
    (Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                       "resets_in_seconds": 60}}), "rate_limit_error", anthropic.RateLimitError),
    (Reply(status=403, body={"detail": "Forbidden"}), "permission_error", anthropic.PermissionDeniedError),
    (Reply(status=400, body={"error": {"message": "Invalid tool schema", "type": "invalid_request_error"}}),
     "invalid_request_error", anthropic.BadRequestError),
    (Reply(status=503, body={"error": {"message": "Our servers are currently overloaded.",
                                       "code": "server_is_overloaded"}}), "overloaded_error", anthropic.APIStatusError),
    (Reply(status=500, body={"detail": "boom"}), "api_error", anthropic.InternalServerError),
])
def test_upstream_errors_become_anthropic_error_types(proxy: Proxy, fake: FakeCodex, reply: Reply, error_type: str,
                                                      exception: type[Exception]) -> None:
    fake.script(TOKEN, reply, reply, reply)  # a 5xx is retried twice on the only account before it is told
    with pytest.raises(exception) as err:
        client(proxy).messages.create(model="gpt-5.4", max_tokens=10, messages=USER)
    body = err.value.body  # type: ignore[attr-defined]
    assert body["type"] == "error" and body["error"]["type"] == error_type


def test_unauthorized_client_and_unknown_claude_model(proxy: Proxy) -> None:
    with pytest.raises(anthropic.AuthenticationError) as auth:
        anthropic.Anthropic(base_url=proxy.url, api_key="wrong", max_retries=0).messages.create(
            model="gpt-5.4", max_tokens=10, messages=USER)
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as missing:
        client(proxy).messages.create(model="claude-opus-5-5", max_tokens=10, messages=USER)
    assert missing.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "ANTHROPIC_DEFAULT_OPUS_MODEL" in missing.value.message


def test_cut_stream_ends_with_exactly_one_error_event(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.text_stream(["Hel", "lo", " there"]), cut_after=8))
    with httpx.stream("POST", proxy.v1 + "/messages", headers={"x-api-key": "sk-local-1"},
                      json={"model": "gpt-5.4", "max_tokens": 10, "messages": USER, "stream": True}) as response:
        body = response.read().decode()
    names = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert names.count("error") == 1 and names[-1] == "error"
    assert names.count("content_block_start") == names.count("content_block_stop")
    assert "Hel" in body and "message_stop" not in names


def test_stream_error_in_band_after_content(proxy: Proxy, fake: FakeCodex) -> None:
    failed = {"type": "response.failed", "response": {"error": {"code": "cyber_policy", "message": "blocked"}}}
    events = [*ev.preamble(), *ev.message_events(["partial"])[:3], failed]
    fake.script(TOKEN, Reply(events=events))
    with pytest.raises(anthropic.APIStatusError) as err, \
            client(proxy).messages.stream(model="gpt-5.4", max_tokens=10, messages=USER) as stream:
        list(stream.text_stream)
    assert "blocked" in str(err.value)


def test_keepalive_pings_survive_a_long_silence(fake: FakeCodex, auth_dir: Path) -> None:
    fake.default = Reply(first_delay=3.0)
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", streaming={"keepalive-seconds": 0.5}) as proxy:  # type: ignore[attr-defined]
        sdk = client(proxy, timeout=1.5)  # a read stalling 1.5 s would fail the turn
        with sdk.messages.stream(model="gpt-5.4", max_tokens=10, messages=USER) as stream:
            final = stream.get_final_message()
        with httpx.stream("POST", proxy.v1 + "/messages", timeout=httpx.Timeout(10, read=1.5),
                          json={"model": "gpt-5.4", "max_tokens": 10, "messages": USER, "stream": True}) as raw:
            names = [line[7:] for line in raw.iter_lines() if line.startswith("event: ")]
    assert final.content[0].text == "Hello"  # type: ignore[union-attr]
    assert names.count("ping") >= 4
    assert names[0] == "message_start" and names.count("message_start") == 1 and names[-1] == "message_stop"


def test_claude_code_session_gives_a_stable_prompt_cache_key(proxy: Proxy, fake: FakeCodex) -> None:
    sdk = client(proxy)
    for _ in range(2):
        sdk.messages.create(model="gpt-5.4", max_tokens=10, messages=USER,
                            metadata={"user_id": CLAUDE_CODE_USER_ID})
    first, second = (r.body["prompt_cache_key"] for r in fake.inference_requests())
    assert first == second and fake.inference_requests()[0].headers["session_id"] == first


def test_models_listing_for_claude_code(proxy: Proxy) -> None:
    listing = httpx.get(proxy.v1 + "/models", headers={"x-api-key": "sk-local-1",
                                                        "user-agent": "claude-cli/2.1.331 (external, cli)"}).json()
    assert listing["has_more"] is False and listing["first_id"] == listing["data"][0]["id"]
    assert all(item["type"] == "model" for item in listing["data"])
