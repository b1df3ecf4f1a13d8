"""Finished Codex response → ``chat.completion``, and the output helpers the
stream shares (usage, incomplete finish reason, image data URLs).

Non-stream content concatenates every text part and every reasoning summary part (a recommended
divergence); ``status: incomplete`` maps to ``length``/``content_filter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cliproxy.dialects.base import JSON, TranslatedRequest

__all__ = [
    "collect_output",
    "created_at",
    "image_data_url",
    "incomplete_finish_reason",
    "render_response",
    "str_or_none",
    "usage_to_chat",
]

_USAGE_FIELDS = (
    ("input_tokens", "prompt_tokens"),
    ("output_tokens", "completion_tokens"),
    ("total_tokens", "total_tokens"),
)


def usage_to_chat(usage: Any) -> JSON | None:
    """Codex ``response.usage`` → Chat ``usage`` (only the fields the upstream reported)."""
    if not isinstance(usage, dict):
        return None
    out: JSON = {chat: usage[codex] for codex, chat in _USAGE_FIELDS if isinstance(usage.get(codex), int)}
    if "total_tokens" not in out and "prompt_tokens" in out and "completion_tokens" in out:
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    cached = _nested_int(usage, "input_tokens_details", "cached_tokens")
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    reasoning = _nested_int(usage, "output_tokens_details", "reasoning_tokens")
    if reasoning is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


def _nested_int(source: JSON, outer: str, inner: str) -> int | None:
    details = source.get(outer)
    value = details.get(inner) if isinstance(details, dict) else None
    return value if isinstance(value, int) else None


def incomplete_finish_reason(response: Any) -> str:
    """``response.incomplete`` → ``content_filter`` or ``length`` (recommended divergence)."""
    details = response.get("incomplete_details") if isinstance(response, dict) else None
    reason = details.get("reason") if isinstance(details, dict) else None
    return "content_filter" if reason == "content_filter" else "length"


_IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


def image_data_url(b64: str, output_format: Any) -> str:
    mime = _IMAGE_MIME.get(output_format, "image/png") if isinstance(output_format, str) else "image/png"
    return f"data:{mime};base64,{b64}"


_MIN_INT64 = -(2**63)
_MAX_UINT64 = 2**64  # exclusive: orjson writes integers in [-2**63, 2**64)


def created_at(response: JSON) -> int | None:
    """``response.created_at`` as whole seconds, or None when it is missing or unusable.

    A value orjson cannot write back (beyond 64 bits) or that has no integer (NaN, infinity)
    would otherwise crash the rendering of an otherwise good answer.
    """
    value = response.get("created_at")
    if not isinstance(value, int | float) or not _MIN_INT64 <= value < _MAX_UINT64:
        return None
    return int(value)



def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Collected:
    """What the output items of a response add up to, in the order they came."""

    __slots__ = ("images", "reasoning", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[JSON] = []
        self.images: list[JSON] = []


def _collect_message(item: JSON, acc: _Collected, names_back: dict[str, str]) -> None:
    for part in _list(item.get("content")):
        if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
            acc.text.append(part["text"])


def _collect_reasoning(item: JSON, acc: _Collected, names_back: dict[str, str]) -> None:
    for part in _list(item.get("summary")):
        if (
            isinstance(part, dict)
            and part.get("type") == "summary_text"
            and isinstance(part.get("text"), str)
        ):
            acc.reasoning.append(part["text"])


def _collect_function_call(item: JSON, acc: _Collected, names_back: dict[str, str]) -> None:
    name = str_or_none(item.get("name")) or ""
    arguments = str_or_none(item.get("arguments")) or ""
    function = {"name": names_back.get(name, name), "arguments": arguments}
    acc.tool_calls.append({"id": item.get("call_id"), "type": "function", "function": function})


def _collect_image(item: JSON, acc: _Collected, names_back: dict[str, str]) -> None:
    result = item.get("result")
    if isinstance(result, str) and result:
        url = image_data_url(result, item.get("output_format"))
        acc.images.append({"type": "image_url", "index": len(acc.images), "image_url": {"url": url}})


_COLLECTORS: dict[str, Callable[[JSON, _Collected, dict[str, str]], None]] = {
    "message": _collect_message,
    "reasoning": _collect_reasoning,
    "function_call": _collect_function_call,
    "image_generation_call": _collect_image,
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def collect_output(response: JSON, names_back: dict[str, str]) -> _Collected:
    acc = _Collected()
    for item in _list(response.get("output")):
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(kind, str):
            collector = _COLLECTORS.get(kind)
            if collector is not None:
                collector(item, acc, names_back)
    return acc


def _finish_reason(response: JSON, has_tool_calls: bool) -> str:
    if response.get("status") == "incomplete":
        return incomplete_finish_reason(response)
    return "tool_calls" if has_tool_calls else "stop"


def render_response(response: JSON, req: TranslatedRequest) -> JSON:
    """The ``chat.completion`` object for a finished (completed or incomplete) Codex response."""
    acc = collect_output(response, req.tool_names)
    message: JSON = {
        "role": "assistant",
        "content": "".join(acc.text) or None,
        "reasoning_content": "\n\n".join(acc.reasoning) or None,
        "tool_calls": acc.tool_calls or None,
    }
    if acc.images:
        message["images"] = acc.images
    finish = _finish_reason(response, bool(acc.tool_calls))
    out: JSON = {
        "id": response.get("id") if isinstance(response.get("id"), str) else "",
        "object": "chat.completion",
        "created": _created(response),
        "model": response.get("model") if isinstance(response.get("model"), str) else req.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish, "native_finish_reason": finish}
        ],
    }
    usage = usage_to_chat(response.get("usage"))
    if usage is not None:
        out["usage"] = usage
    return out


def _created(response: JSON) -> int:
    created = created_at(response)
    return created if created is not None else int(time.time())
