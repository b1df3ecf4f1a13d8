"""A finished Codex response → one Gemini ``GenerateContentResponse``, and the
pieces the stream shares with it (usage, finish reason, function-call and image parts).

Divergence from CPA: a reasoning item becomes a thought part with its
summary text (CPA used ``content``, usually null, and emitted empty thought parts); empty ones are
skipped. An incomplete response finishes with ``MAX_TOKENS``/``SAFETY`` instead of ``STOP``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from cliproxy.dialects.base import JSON, TranslatedRequest


def rfc3339(timestamp: object) -> str | None:
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def usage_metadata(usage: object) -> JSON:
    """Codex ``usage`` → Gemini ``usageMetadata`` (candidates = output tokens, as CPA reports)."""
    meta: JSON = {"trafficType": "PROVISIONED_THROUGHPUT"}
    if not isinstance(usage, dict):
        return meta
    prompt, output = usage.get("input_tokens"), usage.get("output_tokens")
    prompt = prompt if isinstance(prompt, int) else 0
    output = output if isinstance(output, int) else 0
    meta.update(promptTokenCount=prompt, candidatesTokenCount=output, totalTokenCount=prompt + output)
    details = usage.get("output_tokens_details")
    thoughts = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if isinstance(thoughts, int) and thoughts:
        meta["thoughtsTokenCount"] = thoughts
    cached = usage.get("input_tokens_details")
    cached = cached.get("cached_tokens") if isinstance(cached, dict) else None
    if isinstance(cached, int) and cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def finish_reason(response: object) -> str:
    """``STOP``, or for an incomplete response ``SAFETY`` (content filter) / ``MAX_TOKENS``."""
    if not isinstance(response, dict) or response.get("status") != "incomplete":
        return "STOP"
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return "SAFETY" if reason == "content_filter" else "MAX_TOKENS"


def function_call_part(item: JSON, names: dict[str, str]) -> JSON:
    """A Codex ``function_call`` item as a Gemini ``functionCall`` part, client name restored, with the
    backend's call id as ``id``."""
    name = item.get("name")
    name = names.get(name, name) if isinstance(name, str) else ""
    try:
        args = orjson.loads(item.get("arguments") or "{}")
    except (orjson.JSONDecodeError, TypeError):
        args = {}
    call: JSON = {"name": name, "args": args if isinstance(args, dict) else {}}
    call_id = item.get("call_id")
    if isinstance(call_id, str) and call_id:
        call["id"] = call_id  # echoed back on the functionResponse, which then maps to this very call
    return {"functionCall": call}


def image_part(data: str, output_format: object) -> JSON:
    mime = f"image/{output_format}" if isinstance(output_format, str) and output_format else "image/png"
    return {"inlineData": {"data": data, "mimeType": mime}}


def _reasoning_parts(item: JSON, req: TranslatedRequest) -> list[JSON]:
    summary = item.get("summary")
    texts = [p.get("text") for p in summary if isinstance(p, dict)] if isinstance(summary, list) else []
    text = "\n\n".join(t for t in texts if isinstance(t, str) and t)
    return [{"text": text, "thought": True}] if text else []


def _message_parts(item: JSON, req: TranslatedRequest) -> list[JSON]:
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    return [{"text": p["text"]} for p in parts
            if isinstance(p, dict) and p.get("type") == "output_text" and isinstance(p.get("text"), str)]


def _function_call_parts(item: JSON, req: TranslatedRequest) -> list[JSON]:
    return [function_call_part(item, req.tool_names)]


def _image_parts(item: JSON, req: TranslatedRequest) -> list[JSON]:
    result = item.get("result")
    return [image_part(result, item.get("output_format"))] if isinstance(result, str) and result else []


_PARTS: dict[str, Callable[[JSON, TranslatedRequest], list[JSON]]] = {
    "reasoning": _reasoning_parts,
    "message": _message_parts,
    "function_call": _function_call_parts,
    "image_generation_call": _image_parts,
}


def render_response(response: JSON, req: TranslatedRequest) -> JSON:
    """A finished Codex response → one ``GenerateContentResponse``."""
    parts: list[JSON] = []
    output = response.get("output")
    for item in output if isinstance(output, list) else []:
        render = _PARTS.get(str(item.get("type"))) if isinstance(item, dict) else None
        if render is not None:
            parts.extend(render(item, req))
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": finish_reason(response), "index": 0}
    body: JSON = {"candidates": [candidate], "usageMetadata": usage_metadata(response.get("usage")),
                  "modelVersion": req.model}
    create_time = rfc3339(response.get("created_at"))
    if create_time is not None:
        body["createTime"] = create_time
    if isinstance(response.get("id"), str):
        body["responseId"] = response["id"]
    return body
