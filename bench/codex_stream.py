"""The Codex backend's SSE answer for one text-only turn, as the wire carries it.

Frames follow the real ``POST {base}/responses`` stream: ``codex.rate_limits`` first, then
``response.created`` … ``response.completed`` with usage, each ``event: <type>\\ndata: <json>\\n\\n``
and each wrapped as one HTTP/1.1 chunk, so the fake can send one event with one write.
Frames are built once per (variant, delta count) and reused: the fake's cost per event is a write.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from .content import deltas

MODEL = "gpt-5.4"
CREATED_AT = 1770000000
# Events around the deltas: rate_limits, created, in_progress, item added, part added,
# text done, part done, item done, completed.
FIXED_EVENTS = 9

_RATE_LIMITS: dict[str, Any] = {
    "type": "codex.rate_limits",
    "plan_type": "plus",
    "metered_limit_name": "codex",
    "rate_limits": {
        "allowed": True,
        "limit_reached": False,
        "primary": {"used_percent": 12.5, "window_minutes": 300, "reset_at": CREATED_AT + 9000},
        "secondary": {"used_percent": 40, "window_minutes": 10080, "reset_at": CREATED_AT + 500000},
    },
    "credits": {"has_credits": False, "unlimited": False, "balance": None},
}


def events_per_stream(delta_count: int) -> int:
    """How many upstream events one stream carries (the denominator of CPU per event)."""
    return delta_count + FIXED_EVENTS


def _response(resp_id: str, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": "",
        "max_output_tokens": None,
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "store": False,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        "metadata": {},
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message(msg_id: str, status: str, content: list[Any]) -> dict[str, Any]:
    return {"id": msg_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def _usage(output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": 24,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 24 + output_tokens,
    }


def stream_events(variant: int, delta_count: int) -> list[dict[str, Any]]:
    """The event payloads of one stream, in order; ``sequence_number`` as the backend numbers it."""
    resp_id, msg_id = f"resp_bench{variant:02d}", f"msg_bench{variant:02d}"
    parts = deltas(variant, delta_count)
    text = "".join(parts)
    where = {"item_id": msg_id, "output_index": 0, "content_index": 0}
    done_item = _message(msg_id, "completed", [_text_part(text)])
    events: list[dict[str, Any]] = [
        _RATE_LIMITS,
        {"type": "response.created", "response": _response(resp_id, "in_progress", [], None)},
        {"type": "response.in_progress", "response": _response(resp_id, "in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0,
         "item": _message(msg_id, "in_progress", [])},
        {"type": "response.content_part.added", **where, "part": _text_part("")},
    ]
    for i, piece in enumerate(parts):
        events.append({"type": "response.output_text.delta", **where, "delta": piece,
                       "logprobs": [], "obfuscation": f"{i:x}bench"[:8]})
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _text_part(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed",
         "response": _response(resp_id, "completed", [done_item], _usage(delta_count))},
    ]
    for seq, event in enumerate(events[1:]):
        event["sequence_number"] = seq
    return events


def sse_frame(event: dict[str, Any]) -> bytes:
    """``event: <type>\\ndata: <json>\\n\\n``."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def chunk(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk of ``Transfer-Encoding: chunked``."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


@lru_cache(maxsize=64)
def chunked_frames(variant: int, delta_count: int) -> tuple[bytes, ...]:
    """Every event of one stream, SSE-framed and chunk-wrapped, ready for one write each."""
    return tuple(chunk(sse_frame(e)) for e in stream_events(variant, delta_count))
