"""Chat Completions ⇄ Codex: the request, the stream and the non-stream answer."""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliproxy.dialects import openai_chat
from cliproxy.dialects.base import TranslatedRequest
from cliproxy.dialects.openai_chat import (
    DIALECT,
    chat_prompt_cache_key,
    render_response,
    responses_body_to_chat,
    translate_request,
)
from cliproxy.errors import ProxyError
from tests.vectors import load_vector

# An assistant turn's two parallel calls, as a Chat client sends them back in its history.
WEATHER_CALLS = [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
]


# ---- helpers --------------------------------------------------------------------------------


def translate(body: dict[str, Any]) -> TranslatedRequest:
    return translate_request(body, {})


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5.4", "messages": list(messages), **extra}


def frames(data: bytes) -> list[Any]:
    """Every SSE frame as parsed JSON, or the string "[DONE]"."""
    out: list[Any] = []
    for frame in data.split(b"\n\n"):
        if not frame:
            continue
        assert frame.startswith(b"data: "), frame
        payload = frame[len(b"data: ") :]
        out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


def run_stream(events: list[dict[str, Any]], req: TranslatedRequest | None = None) -> list[Any]:
    translator = DIALECT.stream_translator(req or translate(chat({"role": "user", "content": "hi"})))
    out = b"".join(translator.feed(event, orjson.dumps(event)) for event in events)
    return frames(out + translator.finish())


def deltas(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c != "[DONE]"]


def gjson(doc: Any, path: str) -> Any:
    """The tiny part of gjson paths the vectors use: dotted keys, numeric indexes, ``#``."""
    for key in path.split("."):
        if key == "#":
            return len(doc)
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


# ---- canned upstream streams -----------------------------------------------------------------

CREATED: dict[str, Any] = {
    "type": "response.created",
    "response": {"id": "resp_1", "created_at": 1700000000, "model": "gpt-5.4", "status": "in_progress"},
}
USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 15,
}
MESSAGE_DONE = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Hello"}],
}


def completed(output: list[Any], status: str = "completed") -> dict[str, Any]:
    response = {
        "id": "resp_1",
        "created_at": 1700000000,
        "model": "gpt-5.4",
        "status": status,
        "output": output,
        "usage": USAGE,
    }
    return {"type": "response.completed", "response": response}


def text_events(first_index: int = 0) -> list[dict[str, Any]]:
    i = first_index
    return [
        {"type": "response.output_item.added", "output_index": i, "item": {"type": "message", "id": "msg_1"}},
        {"type": "response.content_part.added", "output_index": i, "content_index": 0},
        {"type": "response.output_text.delta", "output_index": i, "item_id": "msg_1", "delta": "Hel"},
        {"type": "response.output_text.delta", "output_index": i, "item_id": "msg_1", "delta": "lo"},
        {"type": "response.content_part.done", "output_index": i, "content_index": 0},
        {"type": "response.output_item.done", "output_index": i, "item": MESSAGE_DONE},
    ]


TEXT: list[dict[str, Any]] = [CREATED, *text_events(), completed([MESSAGE_DONE])]

REASONING_ITEM = {
    "type": "reasoning",
    "id": "rs_1",
    "encrypted_content": "gAAAAB" + "x" * 100,
    "summary": [{"type": "summary_text", "text": "think"}],
}
REASON: list[dict[str, Any]] = [
    CREATED,
    {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1"}},
    {"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": 0},
    {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "think"},
    {"type": "response.reasoning_summary_text.done", "output_index": 0, "text": "think"},
    {"type": "response.reasoning_summary_part.done", "output_index": 0, "summary_index": 0},
    {"type": "response.output_item.done", "output_index": 0, "item": REASONING_ITEM},
    *text_events(first_index=1),
    completed([REASONING_ITEM, MESSAGE_DONE]),
]


def call_item(index: int, call_id: str, name: str, arguments: str = "") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{index}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def tool_events(
    index: int = 0,
    call_id: str = "call_1",
    name: str = "get_weather",
    *,
    added: bool = True,
    with_deltas: bool = True,
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if added:
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": call_item(index, call_id, name),
            }
        )
    if with_deltas:
        for piece in ('{"city":', '"Paris"}'):
            events.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "output_index": index,
                    "item_id": f"fc_{index}",
                    "delta": piece,
                }
            )
    events.append(
        {
            "type": "response.function_call_arguments.done",
            "output_index": index,
            "item_id": f"fc_{index}",
            "arguments": '{"city":"Paris"}',
        }
    )
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": index,
            "item": call_item(index, call_id, name, '{"city":"Paris"}'),
        }
    )
    return events


TOOL: list[dict[str, Any]] = [CREATED, *tool_events(), completed([])]


# ---- request: vectors and forced fields --------------------------------------------------------


def test_vector_tool_call_simple_matches_assertions_and_full_output() -> None:
    vector = load_vector("chat_to_codex_tool_call_simple.json")

    out = translate(vector["input"]["body"]).body

    for path, expected in vector["expected"]["assert"].items():
        assert gjson(out, path) == expected, path
    # Recorded before CLIProxyAPI began sending ``strict: false`` on function tools, as we do now.
    expected = vector["expected"]["derived_full_translator_output"]
    expected["tools"] = [{**tool, "strict": False} for tool in expected["tools"]]
    assert out == expected


def test_vector_prompt_cache_key_from_api_key() -> None:
    vector = load_vector("chat_prompt_cache_key_from_api_key.json")

    key = chat_prompt_cache_key(vector["input"]["client_api_key"])

    assert key == vector["expected"]["assert"]["body.prompt_cache_key"]
    assert key == chat_prompt_cache_key("test-api-key")  # stable across calls


def test_prompt_cache_key_of_scenario_8_client_key() -> None:
    assert chat_prompt_cache_key("sk-local-1") == "4dea7d24-fbf0-5b07-add7-fccdd164fdda"
    assert chat_prompt_cache_key("test-api-key") == "76a25d65-2f6f-5267-af11-943676d3ef27"


def test_forced_fields_and_dropped_sampling_parameters() -> None:
    body = chat(
        {"role": "user", "content": "hi"},
        temperature=0.2,
        top_p=0.9,
        max_tokens=10,
        max_completion_tokens=10,
        stop=["x"],
        n=1,
        presence_penalty=0,
        frequency_penalty=0,
        logit_bias={},
        seed=1,
        user="u",
        stream_options={"include_usage": True},
        parallel_tool_calls=False,
        store=True,
    )

    out = translate(body).body

    assert out == {
        "instructions": "",
        "stream": True,
        "store": False,
        "model": "gpt-5.4",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "parallel_tool_calls": True,
        "include": ["reasoning.encrypted_content"],
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    }


def test_model_is_kept_exactly_as_sent_and_stream_flag_is_reported() -> None:
    streamed = translate(chat({"role": "user", "content": "hi"}, model="gpt-5.4(high)", stream=True))
    plain = translate(chat({"role": "user", "content": "hi"}, stream="true"))

    assert streamed.body["model"] == "gpt-5.4(high)"
    assert streamed.model == "gpt-5.4(high)"
    assert streamed.stream is True
    assert plain.stream is False


@pytest.mark.parametrize(("effort", "expected"), [("high", "high"), ("minimal", "minimal"), (None, "medium")])
def test_reasoning_effort_is_passed_for_the_integrator_to_validate(effort: str | None, expected: str) -> None:
    out = translate(chat({"role": "user", "content": "hi"}, reasoning_effort=effort)).body

    assert out["reasoning"] == {"effort": expected, "summary": "auto"}


# ---- request: messages -----------------------------------------------------------------------


def test_system_message_becomes_first_developer_item_and_instructions_stay_empty() -> None:
    out = translate(chat({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})).body

    assert out["instructions"] == ""
    assert out["input"][0] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "be brief"}],
    }


def test_developer_role_stays_and_unknown_roles_pass_through() -> None:
    out = translate(chat({"role": "developer", "content": "d"}, {"role": "function", "content": "f"})).body

    assert [item["role"] for item in out["input"]] == ["developer", "function"]


def test_user_image_data_url_becomes_input_image_without_detail() -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]

    out = translate(chat({"role": "user", "content": content})).body

    assert out["input"][0]["content"] == [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": url},
        {"type": "input_image", "image_url": "https://example.com/a.png"},
    ]


def test_user_file_with_data_is_kept_and_audio_and_bare_file_ids_are_dropped() -> None:
    content = [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ]

    out = translate(chat({"role": "user", "content": content})).body

    assert out["input"][0]["content"] == [
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}
    ]


def test_images_in_system_messages_are_dropped() -> None:
    content = [{"type": "text", "text": "s"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]

    out = translate(chat({"role": "system", "content": content})).body

    assert out["input"][0]["content"] == [{"type": "input_text", "text": "s"}]


def test_empty_strings_produce_no_parts() -> None:
    out = translate(
        chat({"role": "user", "content": ""}, {"role": "user", "content": [{"type": "text", "text": ""}]})
    ).body

    assert [item["content"] for item in out["input"]] == [[], []]


def test_assistant_text_uses_output_text_parts() -> None:
    out = translate(chat({"role": "assistant", "content": "earlier answer"})).body

    assert out["input"] == [
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "earlier answer"}],
        }
    ]


def test_round_trip_history_scenario_28_request_side() -> None:
    """assistant tool_calls + tool messages → function_call then function_call_output, same call_id."""
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "ignored",
            "tool_calls": copy.deepcopy(WEATHER_CALLS),
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
    ]

    items = translate(chat(*history)).body["input"]

    assert [item["type"] for item in items] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert [item.get("call_id") for item in items[1:]] == ["call_1", "call_2", "call_1", "call_2"]
    assert items[1]["arguments"] == '{"city":"Paris"}'
    assert items[3]["output"] == "sunny"
    assert not any(item.get("role") == "assistant" for item in items)


def test_object_arguments_in_history_are_encoded_as_a_string() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}

    items = translate(chat({"role": "assistant", "content": None, "tool_calls": [call]})).body["input"]

    assert items == [{"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"a":1}'}]


def test_tool_message_array_content_becomes_input_parts() -> None:
    content = [
        {"type": "text", "text": "result"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}},
        {"type": "file", "file": {"file_id": "file-1", "filename": "a.txt"}},
        {"type": "weird", "x": 1},
    ]

    items = translate(chat({"role": "tool", "tool_call_id": "call_1", "content": content})).body["input"]

    assert items[0]["output"] == [
        {"type": "input_text", "text": "result"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"},
        {"type": "input_file", "file_id": "file-1", "filename": "a.txt"},
        {"type": "input_text", "text": '{"type":"weird","x":1}'},
    ]


def test_tool_message_other_content_is_raw_json() -> None:
    items = translate(chat({"role": "tool", "tool_call_id": "c", "content": {"ok": True}})).body["input"]

    assert items[0]["output"] == '{"ok":true}'


# ---- request: tools, tool_choice, response_format --------------------------------------------


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object"}, "strict": True},
}


def test_function_tools_are_flattened_and_other_tools_copied() -> None:
    out = translate(
        chat({"role": "user", "content": "hi"}, tools=[WEATHER_TOOL, {"type": "web_search"}])
    ).body

    assert out["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "d",
            "parameters": {"type": "object"},
            "strict": True,
        },
        {"type": "web_search"},
    ]


def test_long_tool_names_are_shortened_everywhere_and_mapped_back() -> None:
    mcp = "mcp__server__" + "x" * 60 + "__lookup"
    long_a = "a" * 64 + "_first"
    long_b = "a" * 64 + "_second"
    tools = [{"type": "function", "function": {"name": n}} for n in (mcp, long_a, long_b)]
    call = {"id": "c1", "type": "function", "function": {"name": mcp, "arguments": "{}"}}
    body = chat(
        {"role": "assistant", "tool_calls": [call]},
        tools=tools,
        tool_choice={"type": "function", "function": {"name": long_b}},
    )

    req = translate(body)

    assert [t["name"] for t in req.body["tools"]] == ["mcp__lookup", "a" * 64, "a" * 62 + "_1"]
    assert req.body["input"][0]["name"] == "mcp__lookup"
    assert req.body["tool_choice"] == {"type": "function", "name": "a" * 62 + "_1"}
    assert req.tool_names["mcp__lookup"] == mcp
    assert req.tool_names["a" * 62 + "_1"] == long_b


@pytest.mark.parametrize(
    "choice", ["auto", "none", "required", {"type": "allowed_tools", "mode": "auto", "tools": []}]
)
def test_tool_choice_strings_and_other_objects_pass_unchanged(choice: Any) -> None:
    out = translate(chat({"role": "user", "content": "hi"}, tool_choice=choice)).body

    assert out["tool_choice"] == choice


def test_json_schema_response_format_scenario_30() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}

    out = translate(chat({"role": "user", "content": "hi"}, response_format=response_format)).body

    assert out["text"] == {"format": {"type": "json_schema", "name": "x", "strict": True, "schema": schema}}


def test_json_object_response_format_reaches_the_backend() -> None:
    """A divergence from CPA: CPA drops json_object; we map it."""
    out = translate(chat({"role": "user", "content": "hi"}, response_format={"type": "json_object"})).body

    assert out["text"] == {"format": {"type": "json_object"}}


def test_text_format_and_verbosity() -> None:
    out = translate(
        chat({"role": "user", "content": "hi"}, response_format={"type": "text"}, text={"verbosity": "low"})
    ).body
    top_level = translate(chat({"role": "user", "content": "hi"}, verbosity="high")).body

    assert out["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert top_level["text"] == {"verbosity": "high"}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"messages": []},
        {"model": "", "messages": []},
        {"model": "gpt-5.4"},
        {"model": "gpt-5.4", "messages": {"role": "user"}},
        {"model": "gpt-5.4", "messages": ["hi"]},
        {"model": "gpt-5.4", "messages": [{"content": "hi"}]},
        {"model": "gpt-5.4", "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
        {"model": "gpt-5.4", "messages": [{"role": "user", "content": 5}]},
        {"model": "gpt-5.4", "messages": [{"role": "tool", "content": "x"}]},
        {
            "model": "gpt-5.4",
            "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}],
        },
        {"model": "gpt-5.4", "messages": [], "tools": [{"type": "function"}]},
        {"model": "gpt-5.4", "messages": [], "response_format": {"type": "yaml"}},
        {"model": "gpt-5.4", "messages": [], "reasoning_effort": 3},
    ],
)
def test_unusable_bodies_are_400(body: Any) -> None:
    with pytest.raises(ProxyError) as info:
        translate_request(body, {})

    assert info.value.status == 400
    assert DIALECT.error_body(info.value)["error"]["type"] == "invalid_request_error"


# ---- request: Responses-shaped body on the Chat route ----------------------------------------


RESPONSES_BODY = {
    "model": "gpt-5.4",
    "instructions": "be brief",
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": "rainy"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Sunny and rainy."}],
        },
    ],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "reasoning": {"effort": "high"},
    "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
    "max_output_tokens": 100,
    "stream": True,
}


def test_responses_body_is_converted_to_chat() -> None:
    converted = responses_body_to_chat(RESPONSES_BODY)

    assert converted["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": WEATHER_CALLS,
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
        {"role": "assistant", "content": [{"type": "text", "text": "Sunny and rainy."}]},
    ]
    assert converted["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert converted["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert converted["reasoning_effort"] == "high"
    assert converted["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}},
    }
    assert converted["stream"] is True
    assert "max_output_tokens" not in converted


def test_responses_body_on_the_chat_route_translates_end_to_end() -> None:
    req = translate(copy.deepcopy(RESPONSES_BODY))

    types = [(item["type"], item.get("role")) for item in req.body["input"]]
    assert types == [
        ("message", "developer"),
        ("message", "user"),
        ("function_call", None),
        ("function_call", None),
        ("function_call_output", None),
        ("function_call_output", None),
        ("message", "assistant"),
    ]
    assert req.body["tools"] == [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}
    ]
    assert req.body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert req.body["reasoning"]["effort"] == "high"
    assert req.body["text"]["format"]["type"] == "json_schema"
    assert req.stream is True


def test_responses_string_input_becomes_one_user_message() -> None:
    req = translate({"model": "gpt-5.4", "input": "hi"})

    assert req.body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]


def test_body_with_messages_is_never_treated_as_responses() -> None:
    req = translate(chat({"role": "user", "content": "hi"}, instructions="ignored"))

    assert req.body["instructions"] == ""
    assert len(req.body["input"]) == 1


# ---- stream -----------------------------------------------------------------------------------


def test_text_stream_scenario_22() -> None:
    chunks = run_stream(TEXT)

    assert chunks[-1] == "[DONE]"
    body = chunks[:-1]
    for chunk in body:
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "resp_1",
            "chat.completion.chunk",
            1700000000,
            "gpt-5.4",
        )
    assert [c["choices"][0]["delta"] for c in body[:-1]] == [
        {"role": "assistant", "content": ""},  # recommended divergence: leading role chunk
        {"role": "assistant", "content": "Hel"},
        {"role": "assistant", "content": "lo"},
    ]
    assert all(c["choices"][0]["finish_reason"] is None for c in body[:-1])
    final = body[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["choices"][0]["delta"] == {}
    assert final["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


def test_reason_stream_scenario_23() -> None:
    got = [d for d in deltas(run_stream(REASON)) if d]

    assert got[1:4] == [
        {"role": "assistant", "reasoning_content": "think"},
        {"role": "assistant", "reasoning_content": "\n\n"},
        {"role": "assistant", "content": "Hel"},
    ]


def test_tool_stream_scenario_24() -> None:
    chunks = run_stream(TOOL)

    got = deltas(chunks)
    assert got[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
    }
    assert got[2:4] == [
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
    ]
    assert len(got) == 5  # leading, announce, two deltas, final: done events add nothing
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1] == "[DONE]"


def test_tool_stream_without_argument_deltas_scenario_25() -> None:
    events = [CREATED, *tool_events(with_deltas=False), completed([])]

    got = deltas(run_stream(events))

    assert got[2:] == [{"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Paris"}'}}]}, {}]


def test_tool_stream_without_item_added_scenario_26() -> None:
    events = [CREATED, *tool_events(added=False), completed([])]

    chunks = run_stream(events)

    got = deltas(chunks)
    assert got[1:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_get_indexes_0_and_1() -> None:
    events = [
        CREATED,
        *tool_events(0, "call_1", "get_weather"),
        *tool_events(1, "call_2", "get_time"),
        completed([]),
    ]

    got = deltas(run_stream(events))

    calls = [d["tool_calls"][0] for d in got if "tool_calls" in d]
    announced = [(c["index"], c["id"], c["function"]["name"]) for c in calls if "id" in c]
    assert announced == [(0, "call_1", "get_weather"), (1, "call_2", "get_time")]
    assert [c["index"] for c in calls if "id" not in c] == [0, 0, 1, 1]


def test_interleaved_argument_deltas_go_to_their_own_call() -> None:
    first, second = tool_events(0, "call_1"), tool_events(1, "call_2")
    events = [CREATED, first[0], second[0], first[1], second[1], first[2], second[2], completed([])]

    got = deltas(run_stream(events))

    args = [(d["tool_calls"][0]["index"], d["tool_calls"][0]["function"]["arguments"]) for d in got[3:5]]
    assert args == [(0, '{"city":'), (1, '{"city":')]


def test_streamed_tool_names_are_restored_to_the_client_names() -> None:
    long_name = "mcp__server__" + "x" * 60 + "__lookup"
    req = translate(
        chat({"role": "user", "content": "hi"}, tools=[{"type": "function", "function": {"name": long_name}}])
    )

    got = deltas(run_stream([CREATED, *tool_events(name="mcp__lookup"), completed([])], req))

    assert got[1]["tool_calls"][0]["function"]["name"] == long_name


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
def test_incomplete_ends_with_length_or_content_filter_and_usage(reason: str, finish: str) -> None:
    """A divergence from CPA: CPA sends no finish_reason for response.incomplete."""
    incomplete = {
        "type": "response.incomplete",
        "response": {
            "id": "resp_1",
            "status": "incomplete",
            "incomplete_details": {"reason": reason},
            "usage": USAGE,
        },
    }

    chunks = run_stream([CREATED, *text_events(), incomplete])

    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"][0]["finish_reason"] == finish
    assert chunks[-2]["usage"]["completion_tokens"] == 5


def test_rate_limit_and_metadata_events_before_created_produce_nothing() -> None:
    rate_limits = {
        "type": "codex.rate_limits",
        "plan_type": "plus",
        "rate_limits": {"allowed": True, "primary": {"used_percent": 12.5, "window_minutes": 300}},
    }
    metadata = {"type": "codex.response.metadata", "model": "other-model"}
    translator = DIALECT.stream_translator(translate(chat({"role": "user", "content": "hi"})))

    assert translator.feed(rate_limits, b"") == b""
    assert translator.feed(metadata, b"") == b""
    assert translator.feed({"type": "response.in_progress", "response": {}}, b"") == b""
    assert translator.feed({"type": "response.failed", "response": {"error": {"message": "x"}}}, b"") == b""


def test_chunk_model_prefers_event_then_created_then_requested() -> None:
    req = translate(chat({"role": "user", "content": "hi"}, model="gpt-5.4(high)"))
    translator = DIALECT.stream_translator(req)
    delta = {"type": "response.output_text.delta", "delta": "x"}

    before = frames(translator.feed(delta, b""))
    translator.feed(CREATED, b"")
    after_created = frames(translator.feed(delta, b""))
    with_model = frames(translator.feed({**delta, "model": "gpt-5.4-2026"}, b""))

    assert before[0]["model"] == "gpt-5.4(high)"
    assert after_created[0]["model"] == "gpt-5.4"
    assert with_model[0]["model"] == "gpt-5.4-2026"


def test_leading_chunk_and_chunk_id_come_from_the_first_created_only() -> None:
    translator = DIALECT.stream_translator(translate(chat({"role": "user", "content": "hi"})))

    retried = {**CREATED, "response": {**CREATED["response"], "id": "resp_2"}}

    first = translator.feed(CREATED, b"")
    second = translator.feed(retried, b"")
    later = frames(translator.feed({"type": "response.output_text.delta", "delta": "x"}, b""))

    assert deltas(frames(first)) == [{"role": "assistant", "content": ""}]
    assert second == b""
    assert later[0]["id"] == "resp_1"


def test_second_terminal_event_is_ignored() -> None:
    chunks = run_stream([CREATED, completed([]), completed([])])

    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, "stop"]


# ---- stream: images ---------------------------------------------------------------------------


def test_partial_image_then_identical_final_image_is_sent_once() -> None:
    item = {"type": "image_generation_call", "id": "ig_1", "output_format": "webp"}
    events: list[dict[str, Any]] = [
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.image_generation_call.partial_image",
            "output_index": 0,
            "item_id": "ig_1",
            "partial_image_b64": "AAA",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": {**item, "result": "AAA"}},
        completed([]),
    ]

    got = [d for d in deltas(run_stream(events)) if "images" in d]

    assert got == [
        {
            "role": "assistant",
            "images": [{"type": "image_url", "index": 0, "image_url": {"url": "data:image/webp;base64,AAA"}}],
        }
    ]


def test_final_image_differing_from_partial_is_sent() -> None:
    events: list[dict[str, Any]] = [
        CREATED,
        {
            "type": "response.image_generation_call.partial_image",
            "item_id": "ig_1",
            "partial_image_b64": "AAA",
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "image_generation_call", "id": "ig_1", "result": "BBB"},
        },
        completed([]),
    ]

    urls = [d["images"][0]["image_url"]["url"] for d in deltas(run_stream(events)) if "images" in d]

    assert urls == ["data:image/png;base64,AAA", "data:image/png;base64,BBB"]


# ---- stream: failures -------------------------------------------------------------------------


def test_fail_sends_one_error_chunk_and_no_done() -> None:
    translator = DIALECT.stream_translator(translate(chat({"role": "user", "content": "hi"})))
    translator.feed(CREATED, b"")
    translator.feed({"type": "response.output_text.delta", "delta": "Hel"}, b"")
    error = ProxyError(429, "The usage limit has been reached", code="usage_limit_reached")

    out = translator.fail(error) + translator.fail(error) + translator.finish()

    assert frames(out) == [
        {
            "error": {
                "message": "The usage limit has been reached",
                "type": "rate_limit_error",
                "param": None,
                "code": "usage_limit_reached",
            }
        }
    ]


def test_upstream_ending_without_terminal_event_is_an_error_not_done() -> None:
    """A divergence from CPA: never a silent end for Chat clients."""
    chunks = run_stream([CREATED, *text_events()])

    assert "[DONE]" not in chunks
    assert chunks[-1]["error"]["type"] == "server_error"
    assert "stream disconnected" in chunks[-1]["error"]["message"]


def test_keepalive_is_an_sse_comment() -> None:
    translator = DIALECT.stream_translator(translate(chat({"role": "user", "content": "hi"})))

    assert translator.keepalive == b": keep-alive\n\n"


# ---- non-stream -------------------------------------------------------------------------------


def test_non_stream_text_and_reasoning() -> None:
    req = translate(chat({"role": "user", "content": "hi"}))

    out = render_response(completed([REASONING_ITEM, MESSAGE_DONE])["response"], req)

    assert out == {
        "id": "resp_1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-5.4",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "reasoning_content": "think",
                    "tool_calls": None,
                },
                "finish_reason": "stop",
                "native_finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }


def test_non_stream_concatenates_every_text_and_summary_part() -> None:
    """A divergence from CPA: CPA keeps only the first part of each item."""
    reasoning = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "one"}, {"type": "summary_text", "text": "two"}],
    }
    messages = [
        {
            "type": "message",
            "content": [{"type": "output_text", "text": "Hel"}, {"type": "output_text", "text": "lo"}],
        },
        {
            "type": "message",
            "content": [{"type": "refusal", "refusal": "no"}, {"type": "output_text", "text": "!"}],
        },
    ]

    message = render_response(completed([reasoning, *messages])["response"], translate(chat()))["choices"][0][
        "message"
    ]

    assert message["content"] == "Hello!"
    assert message["reasoning_content"] == "one\n\ntwo"


def test_non_stream_tool_call_scenario_27() -> None:
    """The caller rebuilt the empty output from output_item.done; tool calls come back whole."""
    req = translate(chat({"role": "user", "content": "hi"}, tools=[WEATHER_TOOL]))
    response = completed([call_item(0, "call_1", "get_weather", '{"city":"Paris"}')])["response"]

    choice = render_response(response, req)["choices"][0]

    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert choice["finish_reason"] == "tool_calls"


def test_non_stream_parallel_tool_calls_and_restored_names() -> None:
    long_name = "b" * 70
    req = translate(
        chat(
            {"role": "user", "content": "hi"},
            tools=[WEATHER_TOOL, {"type": "function", "function": {"name": long_name}}],
        )
    )
    output = [call_item(0, "call_1", "get_weather", "{}"), call_item(1, "call_2", "b" * 64, "{}")]

    calls = render_response(completed(output)["response"], req)["choices"][0]["message"]["tool_calls"]

    assert [(c["id"], c["function"]["name"]) for c in calls] == [
        ("call_1", "get_weather"),
        ("call_2", long_name),
    ]


def test_non_stream_incomplete_is_length() -> None:
    response = completed([MESSAGE_DONE], status="incomplete")["response"]
    response["incomplete_details"] = {"reason": "max_output_tokens"}

    choice = render_response(response, translate(chat()))["choices"][0]

    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "Hello"


def test_non_stream_images_and_fallback_fields() -> None:
    response = {"output": [{"type": "image_generation_call", "result": "AAA", "output_format": "jpeg"}]}
    before = int(time.time())

    out = render_response(response, translate(chat(model="gpt-5.4(low)")))

    assert out["model"] == "gpt-5.4(low)"
    assert out["created"] >= before
    assert "usage" not in out
    assert out["choices"][0]["message"]["images"] == [
        {"type": "image_url", "index": 0, "image_url": {"url": "data:image/jpeg;base64,AAA"}}
    ]


def test_dialect_table() -> None:
    assert DIALECT.name == "openai"
    assert DIALECT.same_family_as_codex is True
    assert DIALECT.translate_request is translate_request
    assert DIALECT.render_response is render_response
    assert openai_chat.stream_translator(translate(chat())).keepalive == b": keep-alive\n\n"


# ---- property tests ---------------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-typed value, sometimes any JSON value in its place."""
    return st.one_of(strategy, strategy, strategy, json_value)


def chat_bodies(noisy: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Chat bodies; ``noisy`` puts arbitrary JSON where a field of a given type belongs."""
    m = maybe if noisy else (lambda strategy: strategy)
    name = m(st.text(min_size=1, max_size=80))
    part = st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": m(st.text(max_size=10))}),
        st.fixed_dictionaries(
            {
                "type": st.just("image_url"),
                "image_url": m(st.fixed_dictionaries({"url": m(st.text(max_size=10))})),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("file"),
                "file": m(st.fixed_dictionaries({}, optional={"file_data": m(st.text())})),
            }
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["input_audio", "refusal", "other"]), "x": json_value}
        ),
    )
    content = m(st.one_of(st.none(), st.text(max_size=10), st.lists(m(part), max_size=3)))
    tool_call = st.fixed_dictionaries(
        {
            "id": m(st.text(max_size=8)),
            "type": st.just("function"),
            "function": m(st.fixed_dictionaries({"name": name, "arguments": json_value})),
        }
    )
    plain = st.fixed_dictionaries(
        {"role": m(st.sampled_from(["system", "developer", "user", "function"])), "content": content}
    )
    assistant = st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": content},
        optional={"tool_calls": m(st.lists(m(tool_call), max_size=2))},
    )
    tool_message = st.fixed_dictionaries(
        {"role": st.just("tool"), "tool_call_id": m(st.text(max_size=8)), "content": json_value}
    )
    tool = st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": m(st.fixed_dictionaries({"name": name}, optional={"parameters": json_value})),
            }
        ),
        st.fixed_dictionaries({"type": st.sampled_from(["web_search", "custom"]), "x": json_value}),
    )
    tool_choice = st.one_of(
        st.sampled_from(["auto", "none", "required"]),
        st.fixed_dictionaries(
            {"type": st.just("function"), "function": m(st.fixed_dictionaries({"name": name}))}
        ),
    )
    response_format = st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object"])}),
        st.fixed_dictionaries(
            {
                "type": st.just("json_schema"),
                "json_schema": m(st.fixed_dictionaries({"name": name, "schema": json_value})),
            }
        ),
    )
    return st.fixed_dictionaries(
        {
            "model": m(st.sampled_from(["gpt-5.4", "gpt-5.4(high)"])),
            "messages": m(st.lists(m(st.one_of(plain, assistant, tool_message)), max_size=4)),
        },
        optional={
            "tools": m(st.lists(m(tool), max_size=3)),
            "tool_choice": m(tool_choice),
            "response_format": m(response_format),
            "reasoning_effort": m(st.sampled_from(["low", "high", "minimal"])),
            "stream": json_value,
            "text": json_value,
            "verbosity": json_value,
            "temperature": json_value,
        },
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_bodies(noisy=False))
def test_well_typed_chat_bodies_always_translate(body: dict[str, Any]) -> None:
    req = translate_request(body, {})

    orjson.dumps(req.body)  # always serialisable
    assert req.body["stream"] is True and req.body["store"] is False
    assert "temperature" not in req.body
    assert all(len(t.get("name", "").encode()) <= 64 for t in req.body.get("tools", []))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_bodies(noisy=True))
def test_translate_request_only_ever_raises_proxy_error(body: dict[str, Any]) -> None:
    try:
        req = translate_request(body, {})
    except ProxyError as err:
        assert err.status == 400
        return
    orjson.dumps(req.body)


@settings(max_examples=100, deadline=None)
@given(maybe(st.one_of(st.text(), st.lists(json_value, max_size=3))), json_value)
def test_responses_shaped_bodies_only_ever_raise_proxy_error(source: Any, instructions: Any) -> None:
    try:
        translate_request({"model": "gpt-5.4", "input": source, "instructions": instructions}, {})
    except ProxyError as err:
        assert err.status == 400


event_types = st.sampled_from(
    [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.image_generation_call.partial_image",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
        "codex.rate_limits",
        "codex.response.metadata",
    ]
)
item = st.fixed_dictionaries(
    {
        "type": maybe(
            st.sampled_from(
                ["message", "reasoning", "function_call", "image_generation_call", "web_search_call"]
            )
        )
    },
    optional={
        "id": maybe(st.text(max_size=4)),
        "call_id": maybe(st.text(max_size=4)),
        "name": maybe(st.text(max_size=70)),
        "arguments": maybe(st.text(max_size=8)),
        "result": maybe(st.text(max_size=8)),
        "output_format": maybe(st.sampled_from(["png", "jpeg", "webp"])),
        "content": json_value,
        "summary": json_value,
    },
)
response_obj = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(max_size=6)),
        "created_at": maybe(st.integers(min_value=0, max_value=2**40)),
        "model": maybe(st.text(max_size=6)),
        "status": maybe(st.sampled_from(["completed", "incomplete", "failed"])),
        "usage": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    k: maybe(st.integers(0, 10**6)) for k in ("input_tokens", "output_tokens", "total_tokens")
                },
            )
        ),
        "incomplete_details": json_value,
        "output": maybe(st.lists(maybe(item), max_size=3)),
    },
)
codex_event = st.fixed_dictionaries(
    {"type": event_types},
    optional={
        "delta": maybe(st.text(max_size=8)),
        "arguments": maybe(st.text(max_size=8)),
        "output_index": maybe(st.integers(0, 3)),
        "item_id": maybe(st.text(max_size=4)),
        "item": maybe(item),
        "response": maybe(response_obj),
        "partial_image_b64": maybe(st.text(max_size=8)),
        "model": maybe(st.text(max_size=6)),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(codex_event, max_size=12), st.booleans())
def test_stream_translator_never_raises_and_always_writes_valid_json(
    events: list[dict[str, Any]], failing: bool
) -> None:
    translator = DIALECT.stream_translator(
        translate(chat({"role": "user", "content": "hi"}, tools=[WEATHER_TOOL]))
    )
    out = b"".join(translator.feed(event, b"") for event in events)
    out += translator.fail(ProxyError(502, "upstream went away")) if failing else translator.finish()

    chunks = frames(out)  # every frame is `data: <valid JSON>` or [DONE]
    endings = [c for c in chunks if c == "[DONE]" or "error" in c]
    assert len(endings) == 1 and chunks[-1] is endings[0]
    for chunk in chunks[:-1]:
        assert chunk["object"] == "chat.completion.chunk"


@settings(max_examples=100, deadline=None)
@given(response_obj)
def test_render_response_never_raises(response: dict[str, Any]) -> None:
    out = render_response(response, translate(chat()))

    orjson.dumps(out)
    assert out["object"] == "chat.completion"
