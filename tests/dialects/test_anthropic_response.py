"""Codex completed response → Anthropic message, non-stream."""

from __future__ import annotations

from typing import Any

from cliproxy.dialects.anthropic import DIALECT
from tests.dialects.anthropic_helpers import BLOB, REASON, TOOL, request


def completed(events: list[dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = next(e for e in events if e["type"] == "response.completed")["response"]
    return response


def test_reasoning_and_text_message() -> None:
    response = completed(REASON)
    response["output"] = [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "think"}],
            "encrypted_content": BLOB,
        },
        *response["output"],
    ]
    message = DIALECT.render_response(response, request())
    assert message == {
        "id": "resp_1",
        "type": "message",
        "role": "assistant",
        "model": "gpt-5.4",
        "content": [
            {"type": "thinking", "thinking": "think", "signature": BLOB},
            {"type": "text", "text": "Hello"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 6, "output_tokens": 5, "cache_read_input_tokens": 4},
    }


def test_tool_call_message_restores_names_and_parses_input() -> None:
    response = completed(TOOL)
    response["output"] = [
        {"type": "function_call", "call_id": "call_1", "name": "short", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "other", "arguments": "[1]"},
        {"type": "image_generation_call", "result": "AAAA"},
    ]
    message = DIALECT.render_response(
        {"type": "response.completed", "response": response}, request({"short": "the_original_long_name"})
    )
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "the_original_long_name", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "other", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 3, "output_tokens": 7}


def test_incomplete_response_stops_at_max_tokens() -> None:
    response = {
        "id": "resp_9",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Once upon"}]}],
    }
    message = DIALECT.render_response(response, request(model="gpt-5.5"))
    assert message["stop_reason"] == "max_tokens"
    assert message["model"] == "gpt-5.5"  # the response named none
    assert message["content"] == [{"type": "text", "text": "Once upon"}]
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_content_filter_is_a_refusal_and_empty_parts_are_skipped() -> None:
    response = {
        "id": "r",
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "output": [
            {
                "type": "message",
                "content": [{"type": "output_text", "text": ""}, {"type": "refusal", "refusal": "No."}],
            },
            {"type": "reasoning", "summary": [], "encrypted_content": None},
        ],
    }
    message = DIALECT.render_response(response, request())
    assert message["stop_reason"] == "refusal"
    assert message["content"] == [{"type": "text", "text": "No."}]
