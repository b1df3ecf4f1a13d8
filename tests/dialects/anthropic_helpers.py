"""Shared test data for the Anthropic dialect tests: vectors, Codex blobs, SSE parsing."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from cliproxy.dialects.anthropic.stream import AnthropicStream
from cliproxy.dialects.base import TranslatedRequest


def dig(doc: Any, path: str) -> Any:
    """gjson-style lookup: ``input.0.content.#`` is a length."""
    for segment in path.split("."):
        if segment == "#":
            return len(doc)
        doc = doc[int(segment)] if isinstance(doc, list) else doc[segment]
    return doc


def make_blob(ciphertext_blocks: int = 2, seed: int = 7) -> str:
    """A string shaped like a Codex ``encrypted_content`` (a Fernet token)."""
    body = bytes((seed + i) % 256 for i in range(8 + 16 + 16 * ciphertext_blocks + 32))
    return base64.urlsafe_b64encode(b"\x80" + b"\x00" * 4 + body[4:]).decode()


def parse_sse(data: bytes) -> list[tuple[str, Any]]:
    """``[(event name, parsed data)]`` from Anthropic SSE bytes; asserts the framing."""
    events = []
    for frame in data.split(b"\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: "), frame
        events.append((name_line[7:].decode(), orjson.loads(data_line[6:])))
    return events


def request(tool_names: dict[str, str] | None = None, model: str = "gpt-5.4") -> TranslatedRequest:
    return TranslatedRequest(body={}, stream=True, model=model, tool_names=tool_names or {})


def run_stream(events: list[dict[str, Any]], req: TranslatedRequest | None = None) -> list[tuple[str, Any]]:
    """Feed every event, then ``finish``; the parsed client events."""
    translator = AnthropicStream(req or request())
    out = b"".join(translator.feed(event, orjson.dumps(event)) for event in events)
    return parse_sse(out + translator.finish())


BLOB = make_blob()

TEXT: list[dict[str, Any]] = [
    {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5.4", "created_at": 1700000000}},
    {"type": "response.in_progress", "response": {"id": "resp_1"}},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []},
    },
    {
        "type": "response.content_part.added",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "output_text", "text": ""},
    },
    {"type": "response.output_text.delta", "delta": "Hel"},
    {"type": "response.output_text.delta", "delta": "lo"},
    {"type": "response.output_text.done", "text": "Hello"},
    {"type": "response.content_part.done", "part": {"type": "output_text", "text": "Hello"}},
    {
        "type": "response.output_item.done",
        "output_index": 0,
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello"}],
        },
    },
    {
        "type": "response.completed",
        "response": {
            "id": "resp_1",
            "model": "gpt-5.4",
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello"}],
                }
            ],
            "usage": {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 15,
            },
        },
    },
]

REASONING: list[dict[str, Any]] = [
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": BLOB},
    },
    {"type": "response.reasoning_summary_part.added", "summary_index": 0},
    {"type": "response.reasoning_summary_text.delta", "delta": "think"},
    {"type": "response.reasoning_summary_text.done", "text": "think"},
    {"type": "response.reasoning_summary_part.done", "summary_index": 0},
    {
        "type": "response.output_item.done",
        "output_index": 0,
        "item": {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "think"}],
            "encrypted_content": BLOB,
        },
    },
]

REASON: list[dict[str, Any]] = [TEXT[0], *REASONING, *TEXT[1:]]

TOOL: list[dict[str, Any]] = [
    {"type": "response.created", "response": {"id": "resp_2", "model": "gpt-5.4"}},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": ""},
    },
    {"type": "response.function_call_arguments.delta", "delta": '{"city":'},
    {"type": "response.function_call_arguments.delta", "delta": '"Paris"}'},
    {"type": "response.function_call_arguments.done", "arguments": '{"city":"Paris"}'},
    {
        "type": "response.output_item.done",
        "output_index": 0,
        "item": {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
    },
    {
        "type": "response.completed",
        "response": {
            "id": "resp_2",
            "model": "gpt-5.4",
            "status": "completed",
            "output": [],
            "usage": {"input_tokens": 3, "output_tokens": 7},
        },
    },
]
