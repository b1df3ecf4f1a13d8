"""Properties of the Anthropic dialect over generated inputs (hypothesis)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliproxy.dialects.anthropic import DIALECT
from cliproxy.dialects.anthropic.stream import AnthropicStream
from cliproxy.dialects.tokens import count_codex_body_tokens
from cliproxy.errors import Outcome, ProxyError
from tests.dialects.anthropic_helpers import BLOB, parse_sse, request

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)

ids = st.sampled_from(["toolu_1", "toolu_2", "call:3", "t" * 70, "t" * 70 + "x", "toolu_" + "é" * 3])
tool_names = st.sampled_from(["Bash", "Read", "mcp__srv__" + "a" * 70, "x" * 80, "y"])
text = st.text(max_size=12)
image_source = st.one_of(
    st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.just("image/png"), "data": text}),
    st.fixed_dictionaries({"type": st.just("url"), "url": text}),
    json_value,
)
text_block = st.fixed_dictionaries({"type": st.just("text"), "text": text})
image_block = st.fixed_dictionaries({"type": st.just("image"), "source": image_source})
result_content = st.one_of(st.none(), text, st.lists(st.one_of(text_block, image_block, json_value), max_size=3))

blocks = st.one_of(
    text_block,
    image_block,
    st.fixed_dictionaries(
        {
            "type": st.just("thinking"),
            "thinking": text,
            "signature": st.one_of(st.just(BLOB), st.just("codex#" + BLOB), text),
        }
    ),
    st.fixed_dictionaries({"type": st.just("tool_use"), "id": ids, "name": tool_names, "input": json_value}),
    st.fixed_dictionaries(
        {"type": st.just("tool_result"), "tool_use_id": ids, "content": result_content},
        optional={"is_error": st.booleans()},
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["redacted_thinking", "document", "server_tool_use", "zzz"])}),
    st.fixed_dictionaries({"type": json_value}),
    json_value,
)
# Mostly valid roles, now and then something no client should send (it must be a 400, not a crash).
roles = st.sampled_from(["user"] * 12 + ["assistant"] * 12 + ["system"] * 4 + [None, ["user"]])
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": roles,
            "content": st.one_of(text, st.lists(blocks, max_size=5)),
        }
    ),
    max_size=8,
)
tools = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"name": tool_names},
            optional={
                "description": text,
                "input_schema": json_value,
                "defer_loading": st.booleans(),
                "cache_control": json_value,
            },
        ),
        st.fixed_dictionaries({"type": st.sampled_from(["web_search_20250305", "bash_20250124"]), "name": tool_names}),
    ),
    max_size=4,
)
requests = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "model": st.sampled_from(["gpt-5.4", "gpt-5.4(high)", "claude-opus-5-5"]),
        "system": st.one_of(text, st.lists(st.one_of(text_block, json_value), max_size=3)),
        "tools": tools,
        "tool_choice": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {"type": st.sampled_from(["auto", "any", "none", "tool"]), "name": tool_names},
                optional={"disable_parallel_tool_use": st.booleans()},
            ),
        ),
        "thinking": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["enabled", "adaptive", "disabled", "auto"]),
                    "budget_tokens": st.integers(-1, 100_000),
                }
            ),
        ),
        "output_config": st.fixed_dictionaries({"effort": st.sampled_from(["low", "max", "minimal", "HIGH"])}),
        "metadata": st.fixed_dictionaries(
            {"user_id": st.one_of(text, st.just('{"session_id":"abc-123"}'), st.just("user_x_account__session_0f-1"))}
        ),
        "stream": st.booleans(),
    },
)


def assert_paired(items: list[dict[str, Any]]) -> None:
    open_calls: set[str] = set()
    seen: set[str] = set()
    for item in items:
        if item["type"] == "function_call":
            assert item["call_id"] not in seen
            seen.add(item["call_id"])
            open_calls.add(item["call_id"])
            assert len(item["call_id"]) <= 64 and len(item["name"].encode()) <= 64
        elif item["type"] == "function_call_output":
            assert item["call_id"] in open_calls, "an output without an earlier call"
            open_calls.remove(item["call_id"])
    assert not open_calls, "a call without an output"


@SETTINGS
@given(requests)
def test_any_messages_request_translates_to_paired_calls(body: dict[str, Any]) -> None:
    try:
        result = DIALECT.translate_request(body, {})
    except ProxyError as error:
        assert error.status == 400
        return
    assert_paired(result.body["input"])
    orjson.dumps(result.body)
    assert count_codex_body_tokens(result.body) >= 0
    for tool in result.body.get("tools", []):
        assert set(tool) <= {
            "type",
            "name",
            "description",
            "parameters",
            "strict",
            "filters",
            "user_location",
        }


# --- the stream translator --------------------------------------------------------------------

items = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("reasoning")},
        optional={
            "encrypted_content": st.one_of(st.none(), st.just(BLOB), text),
            "summary": st.lists(st.fixed_dictionaries({"type": st.just("summary_text"), "text": text}), max_size=2),
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("message")},
        optional={
            "content": st.lists(
                st.one_of(st.fixed_dictionaries({"type": st.just("output_text"), "text": text}), json_value),
                max_size=2,
            )
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("function_call")},
        optional={
            "call_id": st.one_of(ids, st.none(), st.just("")),
            "name": st.one_of(tool_names, json_value),
            "arguments": st.one_of(text, json_value),
        },
    ),
    json_value,
)
response = st.fixed_dictionaries(
    {},
    optional={
        "id": text,
        "model": st.one_of(text, json_value),
        "status": st.sampled_from(["completed", "incomplete"]),
        "incomplete_details": st.one_of(
            json_value,
            st.fixed_dictionaries({"reason": st.sampled_from(["max_output_tokens", "content_filter"])}),
        ),
        "usage": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "input_tokens": st.integers(-5, 10**6),
                    "output_tokens": st.integers(0, 10**6),
                    "input_tokens_details": st.fixed_dictionaries({"cached_tokens": st.integers(0, 10**6)}),
                }
            ),
        ),
        "output": st.lists(items, max_size=3),
    },
)
event_types = st.sampled_from(
    [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.refusal.delta",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
        "codex.rate_limits",
    ]
)
events = st.lists(
    st.builds(
        lambda kind, extra: {**extra, "type": kind},
        st.one_of(event_types, json_value),
        st.fixed_dictionaries(
            {},
            optional={
                "item": items,
                "delta": st.one_of(text, json_value),
                "arguments": st.one_of(text, json_value),
                "response": response,
            },
        ),
    ),
    max_size=25,
)


@SETTINGS
@given(events, st.booleans())
def test_stream_translator_never_raises_and_never_leaves_a_block_open(
    upstream: list[dict[str, Any]], fails: bool
) -> None:
    translator = AnthropicStream(request({"y": "original"}))
    out = b"".join(translator.feed(event, b"") for event in upstream)
    if fails:
        out += translator.fail(ProxyError(502, "cut", outcome=Outcome.DISCONNECTED))
    out += translator.finish()
    parsed = parse_sse(out)
    open_index = None
    next_index = 0
    for name, data in parsed:
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index = next_index
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index, next_index = None, next_index + 1
    assert open_index is None
    terminals = [name for name, _ in parsed if name in ("message_stop", "error")]
    assert len(terminals) == 1 and parsed[-1][0] == terminals[0]
    assert [name for name, _ in parsed].count("message_start") <= 1
