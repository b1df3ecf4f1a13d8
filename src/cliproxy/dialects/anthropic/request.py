"""Anthropic Messages request → Codex Responses body.

Pure: a dict and the request headers in, a ``TranslatedRequest`` out. The thinking level lands in
``body["reasoning"]["effort"]`` as the client asked (``minimal``/``max`` already clamped the way
Claude clients get them); the integrator validates it against the resolved model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from cliproxy.dialects.anthropic.history import pair_tool_calls
from cliproxy.dialects.anthropic.tools import Tools, translate_tool_choice, translate_tools
from cliproxy.dialects.base import JSON, TranslatedRequest
from cliproxy.dialects.cache_id import uuid5_text
from cliproxy.dialects.conversation import conversation_key
from cliproxy.dialects.names import short_name, shorten_call_id
from cliproxy.errors import bad_request
from cliproxy.responses.blob import looks_like_codex_blob

_BILLING_HEADER = "x-anthropic-billing-header:"
_SIGNATURE_PREFIXES = ("openai#", "gpt#", "codex#")
_ROLES = {"user": "user", "assistant": "assistant", "system": "developer"}
_SESSION_SUFFIX = re.compile(r"_session_([a-f0-9-]+)$")
_MODEL_SUFFIX = re.compile(r"\([^()]*\)$")
_SESSION_HEADER = "x-claude-code-session-id"


def dumps_text(value: Any) -> str:
    """Compact JSON text; falls back to the stdlib for what orjson refuses (ints over 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _str(value: object) -> str:
    """The value when it is a string, else "" — JSON may put a list where a name belongs."""
    return value if isinstance(value, str) else ""


class _Input:
    """Collects Responses input items; consecutive text/image parts share one message item."""

    def __init__(self, names: dict[str, str]) -> None:
        self.items: list[JSON] = []
        self.names = names
        self.role = "user"
        self._parts: list[JSON] = []

    def start(self, role: str) -> None:
        self.flush()
        self.role = role

    def part(self, part: JSON) -> None:
        self._parts.append(part)

    def item(self, item: JSON) -> None:
        self.flush()
        self.items.append(item)

    def flush(self) -> None:
        if self._parts:
            self.items.append({"type": "message", "role": self.role, "content": self._parts})
            self._parts = []

    @property
    def text_type(self) -> str:
        return "output_text" if self.role == "assistant" else "input_text"


# --- content blocks ---------------------------------------------------------------------------


def image_url(block: JSON) -> str | None:
    """A data URL for base64 sources, the URL itself for URL sources (recommended divergence)."""
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "url":
        url = source.get("url")
        return url if isinstance(url, str) and url else None
    data = source.get("data") or source.get("base64")
    if not isinstance(data, str) or not data:
        return None
    media = source.get("media_type") or source.get("mime_type") or "application/octet-stream"
    return f"data:{media};base64,{data}"


def _text(out: _Input, block: JSON) -> None:
    text = block.get("text")
    if isinstance(text, str) and text:
        out.part({"type": out.text_type, "text": text})


def _image(out: _Input, block: JSON) -> None:
    url = image_url(block)
    if url is not None:
        out.part({"type": "input_image", "image_url": url})


def codex_signature(signature: object) -> str | None:
    """The Codex reasoning blob inside a thinking signature, or None for foreign signatures."""
    if not isinstance(signature, str):
        return None
    for prefix in _SIGNATURE_PREFIXES:
        if signature.startswith(prefix):
            signature = signature[len(prefix) :]
            break
    return signature if looks_like_codex_blob(signature) else None


def _thinking(out: _Input, block: JSON) -> None:
    blob = codex_signature(block.get("signature")) if out.role == "assistant" else None
    if blob is not None:
        out.item({"type": "reasoning", "summary": [], "content": None, "encrypted_content": blob})


def _required_id(block: JSON, key: str) -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{block.get('type')}.{key}: Field required")
    return shorten_call_id(value)


def _tool_use(out: _Input, block: JSON) -> None:
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("tool_use.name: Field required")
    arguments = block.get("input")
    out.item(
        {
            "type": "function_call",
            "call_id": _required_id(block, "id"),
            "name": short_name(name, out.names),
            "arguments": dumps_text({} if arguments is None else arguments),
        }
    )


def _result_parts(content: list[Any]) -> list[JSON]:
    parts: list[JSON] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"]:
            parts.append({"type": "input_text", "text": block["text"]})
        elif block.get("type") == "image" and (url := image_url(block)) is not None:
            parts.append({"type": "input_image", "image_url": url})
    return parts


def tool_output(content: object) -> str | list[JSON]:
    """``function_call_output.output``: text/image parts, else the content as text."""
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        parts = _result_parts(content)
        return parts if parts else (dumps_text(content) if content else "")
    if isinstance(content, str):
        return content
    return "" if content is None else dumps_text(content)


def _tool_result(out: _Input, block: JSON) -> None:
    out.item(
        {
            "type": "function_call_output",
            "call_id": _required_id(block, "tool_use_id"),
            "output": tool_output(block.get("content")),
        }
    )


_BLOCKS: dict[str, Callable[[_Input, JSON], None]] = {
    "text": _text,
    "image": _image,
    "thinking": _thinking,
    "tool_use": _tool_use,
    "tool_result": _tool_result,
    # redacted_thinking, document, search_result, server_tool_use, web_search_tool_result: dropped
}


# --- messages and system ----------------------------------------------------------------------


def _message(out: _Input, message: object, index: int) -> None:
    if not isinstance(message, dict):
        raise bad_request(f"messages.{index}: Input should be a valid dictionary")
    role = _ROLES.get(_str(message.get("role")))
    if role is None:
        raise bad_request(f"messages.{index}.role: Input should be 'user' or 'assistant'")
    out.start(role)
    content = message.get("content")
    if isinstance(content, str):
        _text(out, {"text": content})
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                handler = _BLOCKS.get(_str(block.get("type")))
                if handler is not None:
                    handler(out, block)
    elif content is not None:
        raise bad_request(f"messages.{index}.content: Input should be a valid string or list")
    out.flush()


def _system_texts(system: object) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system]
    if not isinstance(system, list):
        raise bad_request("system: Input should be a valid string or list")
    return [b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)]


def system_message(system: object) -> JSON | None:
    """One developer message; Claude Code's billing/attribution block is not instructions."""
    texts = [text for text in _system_texts(system) if text.strip() and not text.lstrip().startswith(_BILLING_HEADER)]
    if not texts:
        return None
    content = [{"type": "input_text", "text": text} for text in texts]
    return {"type": "message", "role": "developer", "content": content}


def translate_input(body: JSON, names: dict[str, str]) -> list[JSON]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("messages: Field required (a list)")
    out = _Input(names)
    developer = system_message(body.get("system"))
    if developer is not None:
        out.items.append(developer)
    for index, message in enumerate(messages):
        _message(out, message, index)
    return pair_tool_calls(out.items)


# --- thinking → reasoning.effort (docs/routes.md, "Reasoning effort") --------------------------

_CLAMP = {"minimal": "low", "max": "xhigh"}


def budget_to_level(budget: int) -> str:
    """CPA ``ConvertBudgetToLevel``; budgets below -1 are garbage."""
    if budget < -1:
        raise bad_request("thinking.budget_tokens must be a positive integer")
    bounds = ((-1, "auto"), (0, "none"), (512, "minimal"), (1024, "low"), (8192, "medium"), (24576, "high"))
    for limit, level in bounds:
        if budget <= limit:
            return level
    return "xhigh"


def _requested_effort(body: JSON) -> str | None:
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    return effort.strip().lower() if isinstance(effort, str) and effort.strip() else None


def reasoning_effort(body: JSON) -> str:
    """The level Claude asked for; ``output_config.effort`` also counts when thinking is unset."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        level = "none"
    elif kind == "enabled":
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        is_int = isinstance(budget, int) and not isinstance(budget, bool)
        level = budget_to_level(budget) if is_int else "medium"  # type: ignore[arg-type]
    elif kind in ("adaptive", "auto"):
        level = _requested_effort(body) or "xhigh"
    else:
        level = _requested_effort(body) or "medium"
    return _CLAMP.get(level, level)


# --- session and prompt cache ------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value.strip() if isinstance(value, str) else ""


def _session_from_user_id(user_id: str) -> str:
    match = _SESSION_SUFFIX.search(user_id)
    if match:
        return match.group(1)
    if user_id.startswith("{"):
        try:
            parsed = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return ""
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session.strip() if isinstance(session, str) else ""
    return ""


def claude_session(body: JSON, headers: Mapping[str, str]) -> str:
    """Claude Code's session id: ``metadata.user_id`` (both formats), else its session header."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    session = _session_from_user_id(user_id.strip()) if isinstance(user_id, str) else ""
    return session or _header(headers, _SESSION_HEADER)


def prompt_cache_key(model: str, session: str) -> str:
    """Deterministic per (model, session) so cache hits survive proxy restarts.

    CPA maps each session to a random id it remembers for an hour, so a restart costs every
    Claude Code conversation its prompt cache.
    """
    base = _MODEL_SUFFIX.sub("", model)
    return uuid5_text(f"cli-proxy-api:codex:prompt-cache:claude:{base}:{session}")


# --- the whole request -------------------------------------------------------------------------


def _model(body: JSON) -> str:
    model = body.get("model")
    if model is None:
        return ""
    if not isinstance(model, str):
        raise bad_request("model: Input should be a valid string")
    return model


def _apply_tools(codex: JSON, body: JSON, tools: Tools) -> None:
    choice, parallel = translate_tool_choice(body.get("tool_choice"), tools)
    if "tools" in body and body["tools"] is not None:
        codex["tools"] = tools.tools
        codex["tool_choice"] = choice
    codex["parallel_tool_calls"] = parallel


def translate_request(body: JSON, headers: Mapping[str, str]) -> TranslatedRequest:
    """Anthropic Messages body → Codex Responses body; raises ``ProxyError`` (400) when unusable."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    model = _model(body)
    tools = translate_tools(body.get("tools"))
    codex: JSON = {"model": model} if "model" in body else {}
    codex.update(instructions="", input=translate_input(body, tools.names))
    _apply_tools(codex, body, tools)
    codex["reasoning"] = {"effort": reasoning_effort(body), "summary": "auto"}
    codex.update(stream=True, store=False, include=["reasoning.encrypted_content"])
    session = claude_session(body, headers)
    # Without a Claude Code session, the conversation's opening names it.
    cache_key = prompt_cache_key(model, session) if session else conversation_key("claude", model, codex)
    if cache_key is not None:
        codex["prompt_cache_key"] = cache_key
    return TranslatedRequest(
        body=codex,
        stream=body.get("stream") is True,
        model=model,
        tool_names={short: original for original, short in tools.names.items()},
        session_id=cache_key,
        extra={"claude_session": session} if session else {},
    )
