"""Codex response → Anthropic message, and the pieces the stream shares.

Stop reason, usage and tool-use ids must come out identical whether Claude Code streams or not,
so both directions use the helpers here.
"""

from __future__ import annotations

import re
import time
from itertools import count

import orjson

from cliproxy.dialects.base import JSON, TranslatedRequest
from cliproxy.dialects.names import shorten_call_id

_STOP_REASONS: dict[str, str] = {
    "": "end_turn",
    "stop": "end_turn",
    "completed": "end_turn",
    "max_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "tool_use": "tool_use",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "model_context_window_exceeded": "model_context_window_exceeded",
    "content_filter": "refusal",
}

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_generated = count(1)


def client_tool_id(call_id: object) -> str:
    """The ``tool_use.id`` Claude Code sees for an upstream ``call_id``.

    Anthropic ids may only hold ``[A-Za-z0-9_-]``; the request side shortens the same way, so
    the id Claude Code sends back in ``tool_result`` reaches the backend as the call's id.
    """
    text = _UNSAFE_ID_CHARS.sub("_", call_id) if isinstance(call_id, str) else ""
    if not text:
        text = f"toolu_{time.time_ns()}_{next(_generated)}"
    return shorten_call_id(text)


def _raw_reason(response: JSON) -> str:
    reason = response.get("stop_reason")
    if isinstance(reason, str) and reason:
        return reason
    details = response.get("incomplete_details")
    if isinstance(details, dict) and isinstance(details.get("reason"), str):
        return str(details["reason"])
    if response.get("stop_sequence"):
        return "stop_sequence"
    return ""


def stop_reason(response: JSON, saw_tool_call: bool) -> str:
    """Anthropic ``stop_reason`` for a finished response.

    A tool call means ``tool_use`` — except when the response was cut short (``incomplete``):
    then the tool input is truncated and Claude Code must see ``max_tokens``, not run it.
    """
    raw = _raw_reason(response)
    if saw_tool_call and not (response.get("status") == "incomplete" and raw):
        return "tool_use"
    return _STOP_REASONS.get(raw, "end_turn")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage(response: JSON) -> JSON:
    """Usage the Anthropic way: cached input tokens are reported apart from the fresh ones."""
    raw = response.get("usage")
    if not isinstance(raw, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    details = raw.get("input_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    result: JSON = {
        "input_tokens": max(0, _int(raw.get("input_tokens")) - cached),
        "output_tokens": _int(raw.get("output_tokens")),
    }
    if cached:
        result["cache_read_input_tokens"] = cached
    return result


def summary_text(item: JSON) -> str:
    """A reasoning item's visible text: its summaries, else its raw content texts."""
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if texts:
                return "\n\n".join(texts)
    return ""


def tool_input(arguments: object) -> JSON:
    """Parsed tool arguments when they are a JSON object, else ``{}`` (Anthropic needs an object)."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _thinking(item: JSON, req: TranslatedRequest) -> list[JSON]:
    text = summary_text(item)
    signature = item.get("encrypted_content")
    signature = signature if isinstance(signature, str) else ""
    if not text and not signature:
        return []
    return [{"type": "thinking", "thinking": text, "signature": signature}]


def part_text(part: object) -> str:
    """Text of an ``output_text`` part, or the explanation of a ``refusal`` part."""
    if not isinstance(part, dict):
        return ""
    value = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
    return value if isinstance(value, str) else ""


def _text(item: JSON, req: TranslatedRequest) -> list[JSON]:
    parts = item.get("content")
    texts = [part_text(part) for part in parts] if isinstance(parts, list) else []
    return [{"type": "text", "text": text} for text in texts if text]


def _tool_use(item: JSON, req: TranslatedRequest) -> list[JSON]:
    name = item.get("name")
    name = name if isinstance(name, str) else ""
    return [
        {
            "type": "tool_use",
            "id": client_tool_id(item.get("call_id")),
            "name": req.tool_names.get(name, name),
            "input": tool_input(item.get("arguments")),
        }
    ]


_ITEM_RENDERERS = {"reasoning": _thinking, "message": _text, "function_call": _tool_use}


def _unwrap(response: JSON) -> JSON:
    """Accept the terminal event as well as its ``response`` object."""
    inner = response.get("response")
    if isinstance(inner, dict) and str(response.get("type", "")).startswith("response."):
        return inner
    return response


def render_response(response: JSON, req: TranslatedRequest) -> JSON:
    """The non-streaming Anthropic message for a completed (or incomplete) Codex response."""
    response = _unwrap(response)
    content: list[JSON] = []
    output = response.get("output")
    for item in output if isinstance(output, list) else []:
        if isinstance(item, dict):
            renderer = _ITEM_RENDERERS.get(str(item.get("type")))
            if renderer is not None:
                content.extend(renderer(item, req))
    saw_tool = any(block["type"] == "tool_use" for block in content)
    model = response.get("model")
    return {
        "id": response.get("id") if isinstance(response.get("id"), str) else "",
        "type": "message",
        "role": "assistant",
        "model": model if isinstance(model, str) and model else req.model,
        "content": content,
        "stop_reason": stop_reason(response, saw_tool),
        "stop_sequence": None,
        "usage": usage(response),
    }
