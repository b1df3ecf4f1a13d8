"""Gemini generateContent ⇄ Codex: request, stream and non-stream."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliproxy.dialects.gemini import DIALECT, render_response, translate_request
from cliproxy.dialects.gemini.stream import GeminiStream
from cliproxy.dialects.tokens import count_codex_body_tokens
from cliproxy.errors import ProxyError
from cliproxy.responses.output import OutputCollector
from tests.fakes import codex_events as ev
from tests.vectors import load_vector

USER = [{"role": "user", "parts": [{"text": "hi"}]}]
CALL_ID = re.compile(r"^call_[A-Za-z0-9]{24}$")


def translate(body: dict[str, Any], model: str = "gpt-5.4") -> dict[str, Any]:
    return translate_request({"model": model, **body}, {}).body


def run(events: list[dict[str, Any]], body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Feed events through a stream translator; the parsed ``data:`` chunks the client gets."""
    translator = GeminiStream(translate_request({"model": "gpt-5.4", **(body or {})}, {}))
    out = b"".join(translator.feed(e, orjson.dumps(e)) for e in events) + translator.finish()
    assert out.endswith(b"\n\n") and out.count(b"data: ") == out.count(b"\n\n")
    return [orjson.loads(frame[6:]) for frame in out.split(b"\n\n") if frame]


def parts(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]


# --- request ---------------------------------------------------------------------------------------


def test_contents_become_one_item_per_part_with_roles_mapped() -> None:
    body = translate({"systemInstruction": {"parts": [{"text": "be brief"}, {"text": "and kind"}]},
                      "contents": [*USER, {"role": "model", "parts": [{"text": "hello"}, {"text": "there"}]}]})
    assert body["input"] == [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "be brief"}, {"type": "input_text", "text": "and kind"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "there"}]},
    ]
    assert body["model"] == "gpt-5.4" and body["stream"] is True and body["store"] is False
    assert body["parallel_tool_calls"] is True and body["include"] == ["reasoning.encrypted_content"]
    assert "tools" not in body and "tool_choice" not in body


def test_snake_case_system_instruction_and_models_prefix() -> None:
    translated = translate_request({"model": "models/gpt-5.4", "system_instruction": {"parts": [{"text": "sys"}]},
                                    "contents": USER}, {})
    assert translated.model == "gpt-5.4"
    assert translated.body["input"][0]["role"] == "developer"


@pytest.mark.parametrize(("config", "effort"), [
    ({"thinkingConfig": {"thinkingBudget": 20000}}, "high"),
    ({"thinkingConfig": {"thinkingLevel": "LOW"}}, "low"),
    ({"thinking_config": {"thinking_budget": 1024}}, "low"),
    ({"thinkingConfig": {"thinkingBudget": -1}}, "auto"),
    ({"thinkingConfig": {"thinkingBudget": 0}}, "none"),
    ({"thinkingConfig": {"includeThoughts": True}}, "medium"),
    ({}, "medium"),
])
def test_thinking_config_maps_to_reasoning_effort(config: dict[str, Any], effort: str) -> None:
    body = translate({"contents": USER, "generationConfig": {"temperature": 0.2, **config}})
    assert body["reasoning"] == {"effort": effort, "summary": "auto"}
    assert "temperature" not in body and "generationConfig" not in body


def test_garbage_thinking_budget_is_a_400() -> None:
    with pytest.raises(ProxyError) as err:
        translate({"contents": USER, "generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}})
    assert err.value.status == 400


def test_function_declarations_become_codex_tools_with_lowercased_types() -> None:
    schema = {"$schema": "x", "type": "OBJECT",
              "properties": {"city": {"type": "STRING"}, "type": {"type": "STRING", "enum": ["A"]}}}
    long_name = "mcp__server__" + "a" * 70
    body = translate({"contents": USER, "tools": [
        {"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parameters": schema},
                                  {"name": long_name, "parametersJsonSchema": {"type": "object"}}]},
        {"googleSearch": {}}]})
    assert body["tools"][0] == {
        "type": "function", "name": "get_weather", "description": "Weather", "strict": False,
        "parameters": {"type": "object", "additionalProperties": False,
                       "properties": {"city": {"type": "string"}, "type": {"type": "string", "enum": ["A"]}}}}
    assert body["tools"][1]["name"] == "mcp__" + "a" * 59 and len(body["tools"]) == 2
    assert body["tool_choice"] == "auto"


def test_empty_tools_still_sets_tool_choice() -> None:
    body = translate({"contents": USER, "tools": []})
    assert body["tools"] == [] and body["tool_choice"] == "auto"


def test_function_calls_and_responses_pair_in_fifo_order() -> None:
    body = translate({"contents": [
        *USER,
        {"role": "model", "parts": [{"functionCall": {"name": "a", "args": {"x": 1}}},
                                    {"functionCall": {"name": "b", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "a", "response": {"result": "one"}}},
                                   {"functionResponse": {"name": "b", "response": {"temp": 20}}},
                                   {"functionResponse": {"name": "c", "response": {"result": {"k": 1}}}}]},
    ]})
    calls = [i for i in body["input"] if i["type"] == "function_call"]
    outputs = [i for i in body["input"] if i["type"] == "function_call_output"]
    assert [c["name"] for c in calls] == ["a", "b"] and calls[0]["arguments"] == '{"x":1}'
    assert all(CALL_ID.match(i["call_id"]) for i in calls + outputs)
    assert [o["call_id"] for o in outputs[:2]] == [c["call_id"] for c in calls]
    assert outputs[2]["call_id"] not in {c["call_id"] for c in calls}
    assert [o["output"] for o in outputs] == ["one", '{"temp":20}', '{"k":1}']


def test_inline_images_become_input_images_and_other_blobs_are_dropped() -> None:
    body = translate({"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
        {"inline_data": {"mime_type": "application/pdf", "data": "JVBE"}},
        {"fileData": {"fileUri": "gs://x"}}, {"text": "what is this?"}]}]})
    assert body["input"] == [
        {"type": "message", "role": "user",
         "content": [{"type": "input_image", "image_url": "data:image/png;base64,iVBOR"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "what is this?"}]},
    ]


def test_stream_flag_and_tool_name_map() -> None:
    translated = translate_request({"model": "gpt-5.4", "stream": True, "contents": USER,
                                    "tools": [{"functionDeclarations": [{"name": "x" * 80}]}]}, {})
    assert translated.stream is True
    assert translated.tool_names == {"x" * 64: "x" * 80}


def test_count_tokens_counts_the_translated_body() -> None:
    short = count_codex_body_tokens(translate({"contents": USER}))
    longer = count_codex_body_tokens(translate({"contents": USER, "systemInstruction": {
        "parts": [{"text": "a much longer system instruction than before"}]}}))
    assert 0 < short < longer


# --- stream ----------------------------------------------------------------------------------------


def test_text_stream_chunks_and_final_usage() -> None:
    chunks = run(ev.text_stream())
    assert parts(chunks) == [{"text": "Hel"}, {"text": "lo"}]
    first, last = chunks[0], chunks[-1]
    assert first["responseId"] == "resp_1" and first["modelVersion"] == "gpt-5.4"
    assert first["createTime"] == "2023-11-14T22:13:20Z"
    assert last["usageMetadata"] == {"trafficType": "PROVISIONED_THROUGHPUT", "promptTokenCount": 10,
                                     "candidatesTokenCount": 5, "totalTokenCount": 15,
                                     "thoughtsTokenCount": 2, "cachedContentTokenCount": 4}
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])


def test_reasoning_deltas_are_thought_parts() -> None:
    assert parts(run(ev.reason_stream())) == [{"thought": True, "text": "think"}, {"text": "Hel"}, {"text": "lo"}]


def test_function_call_is_held_until_just_before_the_usage_chunk() -> None:
    body = {"tools": [{"functionDeclarations": [{"name": "get_weather"}]}]}
    chunks = run(ev.tool_stream(calls=2), body)
    calls = chunks[-3:-1]
    assert [c["candidates"][0]["content"]["parts"][0]["functionCall"] for c in calls] == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
        {"name": "get_weather", "args": {"city": "Tokyo"}, "id": "call_2"}]
    assert all(c["candidates"][0]["finishReason"] == "STOP" for c in calls)
    assert "usageMetadata" in chunks[-1] and chunks[-1]["usageMetadata"]["totalTokenCount"] == 15


def test_shortened_tool_name_is_restored() -> None:
    long_name = "mcp__srv__" + "b" * 70
    events = [*ev.preamble(), *ev.tool_events(name="mcp__" + "b" * 59), ev.completed()]
    chunks = run(events, {"tools": [{"functionDeclarations": [{"name": long_name}]}]})
    assert parts(chunks)[0]["functionCall"]["name"] == long_name


def test_held_call_is_not_lost_when_the_stream_ends_after_it() -> None:
    translator = GeminiStream(translate_request({"model": "gpt-5.4"}, {}))
    events = [*ev.preamble(), *ev.tool_events()]
    out = b"".join(translator.feed(e, b"") for e in events)
    assert b"functionCall" not in out and b"functionCall" in translator.finish()


def test_output_item_done_fallback_vector() -> None:
    case = load_vector("codex_stream_to_gemini_output_item_done_fallback.json")
    chunks = run(case["input"]["upstream_data_lines"], {"model": case["input"]["model"]})
    texts = [c for c in chunks if c["candidates"][0]["content"]["parts"]]
    assert texts[0]["candidates"][0]["content"]["parts"][0]["text"] == "ok"
    for path, value in case["expected"]["last_chunk_assert"].items():
        node: Any = chunks[-1]
        for key in path.split("."):
            node = node[key]
        assert node == value
    assert chunks[-1]["modelVersion"] == "gemini-2.5-pro"


def test_text_is_not_repeated_by_output_item_done_after_deltas() -> None:
    assert parts(run(ev.text_stream())).count({"text": "Hello"}) == 0


def test_images_are_inline_data_once() -> None:
    done = {"type": "response.output_item.done", "output_index": 0,
            "item": {"type": "image_generation_call", "result": "AAAA", "output_format": "webp"}}
    partial = {"type": "response.image_generation_call.partial_image", "partial_image_b64": "AAAA",
               "output_format": "webp"}
    chunks = run([*ev.preamble(), partial, done, ev.completed()])
    assert parts(chunks) == [{"inlineData": {"data": "AAAA", "mimeType": "image/webp"}}]


def test_incomplete_response_finishes_with_max_tokens() -> None:
    incomplete = {"type": "response.incomplete", "response": {"status": "incomplete", "usage": ev.USAGE,
                                                                "incomplete_details": {"reason": "max_output_tokens"}}}
    chunks = run([*ev.preamble(), *ev.message_events(["a"]), incomplete])
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_codex_and_error_events_render_nothing() -> None:
    translator = GeminiStream(translate_request({"model": "gpt-5.4"}, {}))
    for event in [ev.rate_limits(), {"type": "codex.response.metadata"}, {"type": "error", "message": "x"},
                  {"type": "response.failed", "response": {"error": {"message": "x"}}}]:
        assert translator.feed(event, orjson.dumps(event)) == b""


def test_fail_renders_one_google_error_chunk_and_nothing_after() -> None:
    translator = GeminiStream(translate_request({"model": "gpt-5.4"}, {}))
    translator.feed(ev.preamble()[2], b"")
    out = translator.fail(ProxyError(429, "slow down", code="rate_limit_exceeded"))
    assert out.startswith(b"data: ") and out.endswith(b"\n\n")
    assert orjson.loads(out[6:]) == {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    assert translator.fail(ProxyError(500, "again")) == b""
    assert translator.feed(ev.completed(), b"") == b"" and translator.finish() == b""


def test_keepalive_is_a_blank_line_the_sdk_ignores() -> None:
    assert GeminiStream(translate_request({"model": "m"}, {})).keepalive == b"\n"


# --- non-stream ------------------------------------------------------------------------------------


def completed_response(events: list[dict[str, Any]]) -> dict[str, Any]:
    collector = OutputCollector()
    for event in events:
        if event["type"] == "response.output_item.done":
            collector.add(event)
    terminal = events[-1]
    collector.patch(terminal)
    response: dict[str, Any] = terminal["response"]
    return response


def test_render_text_with_summary_as_thought() -> None:
    req = translate_request({"model": "gpt-5.4", "contents": USER}, {})
    body = render_response(completed_response(ev.reason_stream()), req)
    candidate = body["candidates"][0]
    assert candidate["content"] == {"role": "model", "parts": [{"text": "think", "thought": True}, {"text": "Hello"}]}
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"]["promptTokenCount"] == 10 and body["usageMetadata"]["totalTokenCount"] == 15
    assert body["responseId"] == "resp_1" and body["modelVersion"] == "gpt-5.4"


def test_render_function_call() -> None:
    req = translate_request({"model": "gpt-5.4", "tools": [{"functionDeclarations": [{"name": "get_weather"}]}]}, {})
    body = render_response(completed_response(ev.tool_stream()), req)
    assert body["candidates"][0]["content"]["parts"][0] == {"functionCall": {"name": "get_weather",
                                                                             "args": {"city": "Paris"},
                                                                             "id": "call_1"}}
    assert body["candidates"][0]["finishReason"] == "STOP"


def test_dialect_table() -> None:
    assert DIALECT.name == "gemini" and DIALECT.same_family_as_codex is False
    assert DIALECT.error_body(ProxyError(404, "nope"))["error"]["status"] == "NOT_FOUND"


# --- properties ------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                      st.text(max_size=8))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
text = st.text(max_size=10)
part = st.one_of(
    st.fixed_dictionaries({"text": text}, optional={"thought": st.booleans()}),
    st.fixed_dictionaries({"functionCall": st.fixed_dictionaries({"name": text}, optional={"args": json_value})}),
    st.fixed_dictionaries({"functionResponse": st.fixed_dictionaries({"name": text},
                                                                     optional={"response": json_value})}),
    st.fixed_dictionaries({"inlineData": st.fixed_dictionaries({"mimeType": st.sampled_from(["image/png", "x"]),
                                                                "data": text})}),
    st.dictionaries(text, json_value, max_size=2),
)
content = st.fixed_dictionaries({"parts": st.lists(part, max_size=4)},
                                optional={"role": st.sampled_from(["user", "model", "function"])})
declaration = st.fixed_dictionaries({"name": text}, optional={"description": text, "parameters": json_value,
                                                               "parametersJsonSchema": json_value})
bodies = st.fixed_dictionaries({"contents": st.lists(content, max_size=4)}, optional={
    "systemInstruction": st.fixed_dictionaries({"parts": st.lists(part, max_size=2)}),
    "tools": st.lists(st.one_of(st.fixed_dictionaries({"functionDeclarations": st.lists(declaration, max_size=3)}),
                                json_value), max_size=2),
    "generationConfig": st.fixed_dictionaries({}, optional={"thinkingConfig": st.fixed_dictionaries({}, optional={
        "thinkingBudget": st.integers(-1, 40000), "thinkingLevel": st.sampled_from(["LOW", "HIGH", "minimal"])})}),
})


@SETTINGS
@given(bodies)
def test_any_valid_shaped_request_translates(body: dict[str, Any]) -> None:
    translated = translate_request({"model": "gpt-5.4", **body}, {})
    orjson.dumps(translated.body)
    count_codex_body_tokens(translated.body)


event_types = st.sampled_from(["response.created", "response.output_text.delta", "response.output_item.done",
                               "response.reasoning_summary_text.delta", "response.completed",
                               "response.incomplete", "response.image_generation_call.partial_image",
                               "codex.rate_limits", "error", "response.failed"])
items = st.fixed_dictionaries({"type": st.sampled_from(["message", "function_call", "image_generation_call",
                                                        "reasoning"])},
                              optional={"content": json_value, "name": json_value, "arguments": json_value,
                                        "result": json_value, "output_format": json_value, "summary": json_value})
events = st.fixed_dictionaries({"type": event_types}, optional={
    "delta": json_value, "item": st.one_of(items, json_value), "response": json_value,
    "partial_image_b64": json_value, "output_format": json_value})


@SETTINGS
@given(st.lists(events, max_size=12))
def test_any_event_sequence_streams_without_raising(sequence: list[dict[str, Any]]) -> None:
    req = translate_request({"model": "gpt-5.4"}, {})
    translator = GeminiStream(req)
    out = b"".join(translator.feed(e, b"") for e in sequence) + translator.finish()
    for frame in out.split(b"\n\n"):
        if frame:
            orjson.loads(frame[6:])
    for event in sequence:
        if isinstance(event.get("response"), dict):
            render_response(event["response"], req)
