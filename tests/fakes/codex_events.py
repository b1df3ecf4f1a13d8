"""Canned Codex SSE sequences (TEXT, REASON, TOOL) in the real wire shapes."""

from __future__ import annotations

import base64
from typing import Any

# Shaped like a Codex encrypted_content blob: a Fernet envelope (see responses/blob.py).
BLOB = base64.urlsafe_b64encode(b"\x80" + bytes(8) + bytes(16) + bytes(range(32)) + bytes(32)).decode()
USAGE: dict[str, Any] = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
                        "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15}


def rate_limits(used: float = 12.5) -> dict[str, Any]:
    return {"type": "codex.rate_limits", "plan_type": "plus", "metered_limit_name": "codex",
            "rate_limits": {"allowed": True, "limit_reached": False,
                            "primary": {"used_percent": used, "window_minutes": 300, "reset_at": 1770000000},
                            "secondary": {"used_percent": 40, "window_minutes": 10080,
                                          "reset_at": 1770500000}},
            "credits": {"has_credits": False, "unlimited": False, "balance": None}}


def preamble(model: str = "gpt-5.4", response_id: str = "resp_1") -> list[dict[str, Any]]:
    response = {"id": response_id, "object": "response", "created_at": 1700000000, "status": "in_progress",
                "model": model, "output": []}
    return [
        rate_limits(),
        {"type": "codex.response.metadata", "metadata": {"server": "fake"}},
        {"type": "response.created", "response": response},
        {"type": "response.in_progress", "response": response},
    ]


def message_events(text_parts: list[str], index: int = 0, item_id: str = "msg_1") -> list[dict[str, Any]]:
    text = "".join(text_parts)
    item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    done_item = {**item, "status": "completed",
                 "content": [{"type": "output_text", "text": text, "annotations": []}]}
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": index, "item": item},
        {"type": "response.content_part.added", "item_id": item_id, "output_index": index, "content_index": 0,
         "part": {"type": "output_text", "text": "", "annotations": []}},
    ]
    events += [{"type": "response.output_text.delta", "item_id": item_id, "output_index": index,
                "content_index": 0, "delta": part} for part in text_parts]
    events += [
        {"type": "response.output_text.done", "item_id": item_id, "output_index": index, "content_index": 0,
         "text": text},
        {"type": "response.content_part.done", "item_id": item_id, "output_index": index, "content_index": 0,
         "part": {"type": "output_text", "text": text, "annotations": []}},
        {"type": "response.output_item.done", "output_index": index, "item": done_item},
    ]
    return events


def reasoning_events(summary: str = "think", index: int = 0) -> list[dict[str, Any]]:
    item = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": BLOB}
    done = {**item, "summary": [{"type": "summary_text", "text": summary}]}
    return [
        {"type": "response.output_item.added", "output_index": index, "item": item},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": index,
         "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": index,
         "summary_index": 0, "delta": summary},
        {"type": "response.reasoning_summary_text.done", "item_id": "rs_1", "output_index": index,
         "summary_index": 0, "text": summary},
        {"type": "response.reasoning_summary_part.done", "item_id": "rs_1", "output_index": index,
         "summary_index": 0, "part": {"type": "summary_text", "text": summary}},
        {"type": "response.output_item.done", "output_index": index, "item": done},
    ]


def tool_events(call_id: str = "call_1", name: str = "get_weather",
                args: tuple[str, ...] = ('{"city":', '"Paris"}'), index: int = 0) -> list[dict[str, Any]]:
    item_id = f"fc_{call_id}"
    item = {"id": item_id, "type": "function_call", "status": "in_progress", "call_id": call_id, "name": name,
            "arguments": ""}
    full = "".join(args)
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": index, "item": item}]
    events += [{"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": index,
                "delta": part} for part in args]
    events += [
        {"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": index,
         "arguments": full},
        {"type": "response.output_item.done", "output_index": index,
         "item": {**item, "status": "completed", "arguments": full}},
    ]
    return events


def completed(model: str = "gpt-5.4", output: list[dict[str, Any]] | None = None,
              usage: dict[str, Any] | None = None, response_id: str = "resp_1") -> dict[str, Any]:
    return {"type": "response.completed",
            "response": {"id": response_id, "object": "response", "created_at": 1700000000,
                         "status": "completed", "model": model, "output": output or [],
                         "usage": usage or USAGE}}


def text_stream(parts: list[str] | None = None, model: str = "gpt-5.4") -> list[dict[str, Any]]:
    return [*preamble(model), *message_events(parts or ["Hel", "lo"]), completed(model)]


def reason_stream(model: str = "gpt-5.4") -> list[dict[str, Any]]:
    return [*preamble(model), *reasoning_events(), *message_events(["Hel", "lo"], index=1), completed(model)]


def tool_stream(model: str = "gpt-5.4", calls: int = 1) -> list[dict[str, Any]]:
    events = list(preamble(model))
    for n in range(calls):
        city = ["Paris", "Tokyo", "Lima"][n % 3]
        events += tool_events(call_id=f"call_{n + 1}", args=('{"city":', f'"{city}"}}'), index=n)
    return [*events, completed(model)]
