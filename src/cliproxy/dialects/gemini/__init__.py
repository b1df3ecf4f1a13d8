"""The Gemini ``generateContent`` dialect (google-genai SDK): generateContent ⇄ Codex Responses.

``gemini_request`` builds the Codex body (proxy.md §4.7), ``gemini_stream`` renders the event
stream (§4.7.1); this module renders the finished response (§4.7.2) and exports the table.

Divergence from CPA (recommended in §4.7.2): a reasoning item becomes a thought part with its
summary text (CPA used ``content``, usually null, and emitted empty thought parts); empty ones are
skipped. An incomplete response finishes with ``MAX_TOKENS``/``SAFETY`` instead of ``STOP``.
"""

from __future__ import annotations

from collections.abc import Callable

from cliproxy.dialects.base import JSON, Dialect, TranslatedRequest
from cliproxy.dialects.gemini.request import reasoning_effort, translate_request
from cliproxy.dialects.gemini.stream import (
    GeminiStream,
    finish_reason,
    function_call_part,
    image_part,
    rfc3339,
    stream_translator,
    usage_metadata,
)
from cliproxy.errors import google_error_body


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


DIALECT = Dialect(
    name="gemini",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=google_error_body,
    same_family_as_codex=False,
)

__all__ = ["DIALECT", "GeminiStream", "reasoning_effort", "render_response", "stream_translator",
           "translate_request"]
