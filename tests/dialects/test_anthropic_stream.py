"""Codex SSE → Anthropic stream, with the invariants Claude Code depends on."""

from __future__ import annotations

from typing import Any

import orjson

from cliproxy.dialects.anthropic import DIALECT
from cliproxy.dialects.anthropic.stream import PING, AnthropicStream
from cliproxy.errors import Outcome, ProxyError
from tests.dialects.anthropic_helpers import BLOB, REASON, REASONING, TEXT, TOOL, parse_sse, request, run_stream
from tests.vectors import load_vector as vector


def names(events: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in events]


def assert_well_formed(events: list[tuple[str, Any]]) -> None:
    """What Claude Code needs: blocks opened in order, each closed once, one terminal event."""
    open_index = None
    expected_index = 0
    for name, data in events:
        if name == "content_block_start":
            assert open_index is None and data["index"] == expected_index
            open_index = data["index"]
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index, expected_index = None, expected_index + 1
    assert open_index is None
    terminal = [n for n in names(events) if n in ("message_stop", "error")]
    assert len(terminal) == 1 and names(events)[-1] == terminal[0]


# --- vectors ----------------------------------------------------------------------------------


def test_thinking_signature_vector() -> None:
    case = vector("codex_stream_to_claude_thinking_signature.json")
    translator = AnthropicStream(request())
    out = b"".join(translator.feed(e, orjson.dumps(e)) for e in case["input"]["upstream_data_lines"])
    events = parse_sse(out)
    assert [{"event": n, "data": d} for n, d in events] == case["expected"]["events"]
    assert "signature" not in events[1][1]["content_block"]


def _fail_after(lines: list[dict[str, Any]], error: ProxyError) -> list[tuple[str, Any]]:
    translator = AnthropicStream(request())
    out = b"".join(translator.feed(e, orjson.dumps(e)) for e in lines)
    assert out == b"", "upstream error events are not rendered by feed"
    return parse_sse(out + translator.fail(error) + translator.fail(error) + translator.finish())


def test_cyber_policy_vector_gives_exactly_one_error_event() -> None:
    case = vector("codex_stream_error_cyber_policy_to_claude.json")
    upstream = case["input"]["upstream_data_lines"][0]["error"]
    # What the runner's classifier hands to ``fail`` for this event (classification is not ours).
    error = ProxyError(
        400,
        upstream["message"],
        code=upstream["code"],
        type="invalid_request_error",
        outcome=Outcome.BAD_REQUEST,
    )
    events = _fail_after(case["input"]["upstream_data_lines"], error)
    expected = case["expected"]["events"][0]
    assert len(events) == 1 and events[0][0] == "error"
    assert events[0][1]["error"]["type"] == expected["data"]["error"]["type"]
    # A divergence from CPA: the upstream code is kept in the Anthropic message.
    assert events[0][1]["error"]["message"] == expected["data"]["error"]["message"] + " (cyber_policy)"


def test_error_type_fallback_vector() -> None:
    case = vector("codex_stream_error_type_fallback_to_claude.json")
    error = ProxyError(529, "overloaded_error", type="overloaded_error", outcome=Outcome.SERVER_ERROR)
    events = _fail_after(case["input"]["upstream_data_lines"], error)
    assert [{"event": n, "data": d} for n, d in events] == case["expected"]["events"]


# --- the canned TEXT, REASON and TOOL sequences -----------------------------------------------


def test_text_stream_exact_sequence() -> None:
    events = run_stream(TEXT)
    assert events == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "resp_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "gpt-5.4",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                    "content": [],
                    "stop_reason": None,
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 6, "output_tokens": 5, "cache_read_input_tokens": 4},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_reasoning_then_text() -> None:
    events = run_stream(REASON)
    assert_well_formed(events)
    thinking = [d for n, d in events if n.startswith("content_block") and d["index"] == 0]
    assert thinking[0]["content_block"] == {"type": "thinking", "thinking": ""}
    assert thinking[1]["delta"] == {"type": "thinking_delta", "thinking": "think"}
    assert thinking[2]["delta"] == {"type": "signature_delta", "signature": BLOB}
    assert thinking[3] == {"type": "content_block_stop", "index": 0}
    text_start = next(d for n, d in events if n == "content_block_start" and d["index"] == 1)
    assert text_start["content_block"]["type"] == "text"


def test_reasoning_without_summary_is_an_empty_signed_thinking_block() -> None:
    silent = [REASONING[0], REASONING[-1]]
    events = run_stream([TEXT[0], *silent, *TEXT[1:]])
    assert_well_formed(events)
    assert events[1:4] == [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": BLOB},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]


def test_several_summary_parts_share_one_signed_thinking_block() -> None:
    parts = [
        REASONING[0],
        {"type": "response.reasoning_summary_part.added", "summary_index": 0},
        {"type": "response.reasoning_summary_text.delta", "delta": "first"},
        {"type": "response.reasoning_summary_part.done", "summary_index": 0},
        {"type": "response.reasoning_summary_part.added", "summary_index": 1},
        {"type": "response.reasoning_summary_text.delta", "delta": "second"},
        {"type": "response.reasoning_summary_part.done", "summary_index": 1},
        REASONING[-1],
    ]
    events = run_stream([TEXT[0], *parts, *TEXT[1:]])
    assert_well_formed(events)
    thinking = [d["delta"] for n, d in events if n == "content_block_delta" and d["index"] == 0]
    assert thinking == [
        {"type": "thinking_delta", "thinking": "first"},
        {"type": "thinking_delta", "thinking": "\n\n"},
        {"type": "thinking_delta", "thinking": "second"},
        {"type": "signature_delta", "signature": BLOB},
    ]


def test_tool_stream() -> None:
    events = run_stream(TOOL)
    assert_well_formed(events)
    assert events[1][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {},
    }
    deltas = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert deltas == ["", '{"city":', '"Paris"}']
    assert "".join(deltas) == '{"city":"Paris"}'
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == {"input_tokens": 3, "output_tokens": 7}


def test_tool_arguments_only_in_done_event_are_sent_once() -> None:
    events = run_stream([e for e in TOOL if e["type"] != "response.function_call_arguments.delta"])
    deltas = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert deltas == ["", '{"city":"Paris"}']


def test_tool_call_without_added_event_still_makes_a_full_block() -> None:
    events = run_stream([TOOL[0], TOOL[-2], TOOL[-1]])
    assert_well_formed(events)
    assert events[1][1]["content_block"]["id"] == "call_1"
    assert [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"] == [
        "",
        '{"city":"Paris"}',
    ]


def test_tool_names_and_ids_come_back_as_the_client_knows_them() -> None:
    original = "mcp__server__" + "a" * 60 + "__lookup"
    added = {
        "type": "response.output_item.added",
        "item": {"type": "function_call", "call_id": "call:weird/id", "name": "mcp__lookup"},
    }
    done = {
        "type": "response.output_item.done",
        "item": {
            "type": "function_call",
            "call_id": "call:weird/id",
            "name": "mcp__lookup",
            "arguments": "{}",
        },
    }
    events = run_stream([TOOL[0], added, done, TOOL[-1]], request({"mcp__lookup": original}))
    block = events[1][1]["content_block"]
    assert block["name"] == original and block["id"] == "call_weird_id"


def test_parallel_tool_calls_are_separate_blocks() -> None:
    def call(n: int) -> list[dict[str, Any]]:
        item = {"type": "function_call", "call_id": f"call_{n}", "name": "Bash", "arguments": f'{{"n":{n}}}'}
        return [
            {"type": "response.output_item.added", "item": {**item, "arguments": ""}},
            {"type": "response.function_call_arguments.delta", "delta": f'{{"n":{n}}}'},
            {"type": "response.output_item.done", "item": item},
        ]

    events = run_stream([TOOL[0], *call(1), *call(2), TOOL[-1]])
    assert_well_formed(events)
    starts = [d["content_block"]["id"] for n, d in events if n == "content_block_start"]
    assert starts == ["call_1", "call_2"]


def test_incomplete_max_output_tokens_is_max_tokens() -> None:
    incomplete = {
        "type": "response.incomplete",
        "response": {
            "id": "resp_1",
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "usage": {"input_tokens": 10, "output_tokens": 100},
        },
    }
    events = run_stream([*TEXT[:-1], incomplete])
    assert_well_formed(events)
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_truncated_tool_call_is_max_tokens_not_tool_use() -> None:
    incomplete = {
        "type": "response.incomplete",
        "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
    }
    events = run_stream([*TOOL[:3], incomplete])
    assert_well_formed(events)
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_message_item_without_deltas_falls_back_to_its_text() -> None:
    events = run_stream([TEXT[0], TEXT[2], TEXT[8], TEXT[9]])
    assert_well_formed(events)
    assert [d["delta"]["text"] for n, d in events if n == "content_block_delta"] == ["Hello"]


def test_refusal_is_shown_as_text() -> None:
    refusal: list[dict[str, Any]] = [
        {"type": "response.content_part.added", "part": {"type": "refusal", "refusal": ""}},
        {"type": "response.refusal.delta", "delta": "I can't help with that."},
        {"type": "response.content_part.done", "part": {"type": "refusal"}},
    ]
    events = run_stream([TEXT[0], TEXT[2], *refusal, TEXT[9]])
    assert_well_formed(events)
    assert [d["delta"]["text"] for n, d in events if n == "content_block_delta"] == ["I can't help with that."]


def test_bookkeeping_events_produce_nothing() -> None:
    translator = AnthropicStream(request())
    for event in (
        {"type": "codex.rate_limits", "rate_limits": {"primary": {"used_percent": 3}}},
        {"type": "codex.response.metadata", "metadata": {}},
        {"type": "response.in_progress"},
        {"type": "response.image_generation_call.partial_image", "partial_image_b64": "AAAA"},
        {"type": "response.failed", "response": {"error": {"code": "server_error"}}},
        {"type": "error", "error": {"message": "x"}},
        {"type": "something.new"},
        {},
    ):
        assert translator.feed(event, b"") == b""


# --- ends and failures ------------------------------------------------------------------------


def test_finish_after_completion_owes_nothing() -> None:
    translator = AnthropicStream(request())
    for event in TEXT:
        translator.feed(event, b"")
    assert translator.finish() == b""
    assert translator.feed(TEXT[4], b"") == b""


def test_failure_after_content_closes_the_block_and_sends_exactly_one_error() -> None:
    translator = AnthropicStream(request())
    out = b"".join(translator.feed(event, b"") for event in TEXT[:5])
    error = ProxyError(
        429,
        "The usage limit has been reached",
        code="usage_limit_reached",
        type="usage_limit_reached",
        outcome=Outcome.QUOTA_EXHAUSTED,
        retry_after=60,
    )
    out += translator.fail(error)
    out += translator.feed(TEXT[5], b"") + translator.fail(error) + translator.finish()
    events = parse_sse(out)
    assert_well_formed(events)
    assert names(events)[-2:] == ["content_block_stop", "error"]
    assert events[-1][1]["error"]["type"] == "rate_limit_error"  # never the Codex type
    assert "message_stop" not in names(events)


def test_failure_inside_thinking_still_signs_the_block_when_the_signature_is_known() -> None:
    translator = AnthropicStream(request())
    out = b"".join(translator.feed(event, b"") for event in [TEXT[0], *REASONING[:3]])
    out += translator.fail(ProxyError(502, "upstream went away", outcome=Outcome.DISCONNECTED))
    events = parse_sse(out)
    assert_well_formed(events)
    assert events[-3][1]["delta"] == {"type": "signature_delta", "signature": BLOB}
    assert events[-1][1]["error"]["type"] == "api_error"


def test_stream_ending_without_completed_ends_with_an_api_error() -> None:
    translator = AnthropicStream(request())
    out = b"".join(translator.feed(event, b"") for event in TOOL[:3])
    events = parse_sse(out + translator.finish() + translator.finish())
    assert_well_formed(events)
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "response.completed" in events[-1][1]["error"]["message"]


def test_failure_before_anything_is_a_lone_error_event() -> None:
    translator = AnthropicStream(request())
    events = parse_sse(translator.fail(ProxyError(401, "token expired", outcome=Outcome.UNAUTHORIZED)))
    assert events == [
        ("error", {"type": "error", "error": {"type": "authentication_error", "message": "token expired"}})
    ]


def test_keepalive_is_an_anthropic_ping_after_an_early_message_start() -> None:
    translator = DIALECT.stream_translator(request())
    first = parse_sse(translator.keepalive)
    assert [name for name, _ in first] == ["message_start", "ping"]
    assert first[0][1]["message"]["id"].startswith("msg_")
    assert translator.keepalive == PING == b'event: ping\ndata: {"type": "ping"}\n\n'
    created = {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5.4"}}
    assert b"message_start" not in translator.feed(created, b"")
