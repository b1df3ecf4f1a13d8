"""Gemini ``generateContent`` request → Codex Responses body.

Pure: a dict and the request headers in, a ``TranslatedRequest`` out. The model comes from the
URL; the route copies it into ``body["model"]`` before calling ``translate_request``. The
thinking level lands in ``body["reasoning"]["effort"]`` as the client asked; the route clamps it
to the resolved model (``models.apply_reasoning``).

Divergence from CPA: ``inlineData`` images become ``input_image`` data URLs
instead of being dropped.
"""

from __future__ import annotations

import secrets
import string
from collections import deque
from collections.abc import Mapping
from typing import Any

from cliproxy.dialects.anthropic.request import dumps_text
from cliproxy.dialects.base import JSON, TranslatedRequest
from cliproxy.dialects.conversation import conversation_key
from cliproxy.dialects.names import build_name_map, short_name
from cliproxy.errors import bad_request
from cliproxy.responses.effort import budget_to_level

_ALNUM = string.ascii_letters + string.digits
_ROLES = {"model": "assistant"}


def new_call_id() -> str:
    """``call_`` + 24 random alphanumerics, as CPA mints ids Gemini's history does not carry."""
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _get(source: Mapping[str, Any], camel: str, snake: str) -> Any:
    """Gemini accepts both spellings of every field (the REST API is proto-JSON)."""
    value = source.get(camel)
    return source.get(snake) if value is None else value


def _dict(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# --- reasoning (docs/routes.md, "Reasoning effort") ----------------------------------------------


def reasoning_effort(body: JSON) -> str:
    """``thinkingLevel`` lower-cased, else ``thinkingBudget`` as a level, else ``medium``."""
    config = _dict(_get(body, "generationConfig", "generation_config"))
    thinking = _dict(_get(config, "thinkingConfig", "thinking_config"))
    level = _get(thinking, "thinkingLevel", "thinking_level")
    if isinstance(level, str) and level.strip():
        text = level.strip().lower()
        return "medium" if text == "thinking_level_unspecified" else text
    budget = _get(thinking, "thinkingBudget", "thinking_budget")
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        return budget_to_level(int(budget))
    return "medium"


# --- tools -----------------------------------------------------------------------------------------


def _lower_types(value: Any) -> Any:
    """Every string ``type`` lower-cased (``OBJECT`` → ``object``); a property named ``type`` stays."""
    if isinstance(value, list):
        return [_lower_types(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v) for k, v in value.items()}


def _declarations(tools: list[Any]) -> list[JSON]:
    found: list[JSON] = []
    for tool in tools:
        entries = _get(_dict(tool), "functionDeclarations", "function_declarations")
        found.extend(d for d in _list(entries) if isinstance(d, dict) and isinstance(d.get("name"), str))
    return found


def _parameters(declaration: JSON) -> JSON:
    schema = declaration.get("parameters")
    if not isinstance(schema, dict):
        schema = _get(declaration, "parametersJsonSchema", "parameters_json_schema")
    params = {k: v for k, v in _dict(schema).items() if k != "$schema"} or {"type": "object", "properties": {}}
    params["additionalProperties"] = False
    return _lower_types(params)  # type: ignore[no-any-return]


def translate_tools(tools: list[Any]) -> tuple[list[JSON], dict[str, str]]:
    """Function declarations → Codex function tools; other tool kinds are dropped."""
    declarations = _declarations(tools)
    names = build_name_map(d["name"] for d in declarations)
    out: list[JSON] = []
    for declaration in declarations:
        tool: JSON = {"type": "function", "name": names[declaration["name"]]}
        if isinstance(declaration.get("description"), str):
            tool["description"] = declaration["description"]
        tool.update(parameters=_parameters(declaration), strict=False)
        out.append(tool)
    return out, names


# --- contents --------------------------------------------------------------------------------------


class _History:
    """Input items, one per part; function calls and their responses paired in FIFO order."""

    def __init__(self, names: dict[str, str]) -> None:
        self.items: list[JSON] = []
        self.names = names
        self.pending: deque[str] = deque()

    def text(self, role: str, text: str) -> None:
        kind = "output_text" if role == "assistant" else "input_text"
        self.items.append({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})

    def function_call(self, call: JSON) -> None:
        """A call keeps the ``id`` we gave it (the backend's call id), so its response maps back."""
        given = call.get("id")
        call_id = given if isinstance(given, str) and given else new_call_id()
        self.pending.append(call_id)
        name = call.get("name")
        self.items.append({"type": "function_call", "name": short_name(name if isinstance(name, str) else "",
                                                                        self.names),
                           "arguments": dumps_text(call.get("args") if "args" in call else {}),
                           "call_id": call_id})

    def function_response(self, response: JSON) -> None:
        """Paired by ``id`` when the client echoes it, else with the oldest unanswered call."""
        given = response.get("id")
        if isinstance(given, str) and given:
            call_id = given
            if given in self.pending:
                self.pending.remove(given)
        else:
            call_id = self.pending.popleft() if self.pending else new_call_id()
        payload = response.get("response")
        result = payload.get("result") if isinstance(payload, dict) else None
        output = result if isinstance(result, str) else dumps_text(result if result is not None else payload)
        self.items.append({"type": "function_call_output", "output": output, "call_id": call_id})

    def inline_data(self, blob: JSON) -> None:
        mime = _get(blob, "mimeType", "mime_type")
        data = blob.get("data")
        if isinstance(mime, str) and mime.startswith("image/") and isinstance(data, str) and data:
            image = {"type": "input_image", "image_url": f"data:{mime};base64,{data}"}
            self.items.append({"type": "message", "role": "user", "content": [image]})

    def part(self, role: str, part: JSON) -> None:
        if isinstance(part.get("text"), str):
            self.text(role, part["text"])
        elif isinstance(call := _get(part, "functionCall", "function_call"), dict):
            self.function_call(call)
        elif isinstance(response := _get(part, "functionResponse", "function_response"), dict):
            self.function_response(response)
        elif isinstance(blob := _get(part, "inlineData", "inline_data"), dict):
            self.inline_data(blob)
        # fileData, executableCode, codeExecutionResult: nothing Codex can take.


def _system_message(body: JSON) -> JSON | None:
    system = _dict(_get(body, "systemInstruction", "system_instruction"))
    texts = [p["text"] for p in _list(system.get("parts")) if isinstance(p, dict) and isinstance(p.get("text"), str)]
    parts = [{"type": "input_text", "text": text} for text in texts if text]
    return {"type": "message", "role": "developer", "content": parts} if parts else None


def translate_input(body: JSON, names: dict[str, str]) -> list[JSON]:
    history = _History(names)
    system = _system_message(body)
    if system is not None:
        history.items.append(system)
    for content in _list(body.get("contents")):
        if not isinstance(content, dict):
            continue
        role = content.get("role")
        role = _ROLES.get(role, role) if isinstance(role, str) and role else "user"
        for part in _list(content.get("parts")):
            if isinstance(part, dict):
                history.part(role, part)
    return history.items


# --- the whole request -----------------------------------------------------------------------------


def translate_request(body: JSON, headers: Mapping[str, str]) -> TranslatedRequest:
    """Gemini body (with the URL's model in ``body["model"]``) → Codex Responses body."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    model = body.get("model")
    model = model.removeprefix("models/") if isinstance(model, str) else ""
    tools, names = translate_tools(_list(body.get("tools")))
    codex: JSON = {"model": model, "instructions": "", "input": translate_input(body, names)}
    if "tools" in body:
        codex.update(tools=tools, tool_choice="auto")
    codex.update(parallel_tool_calls=True, reasoning={"effort": reasoning_effort(body), "summary": "auto"},
                 stream=True, store=False, include=["reasoning.encrypted_content"])
    cache_key = conversation_key("gemini", model, codex)  # Gemini names no conversation: its opening does
    if cache_key is not None:
        codex["prompt_cache_key"] = cache_key
    return TranslatedRequest(body=codex, stream=body.get("stream") is True, model=model,
                             tool_names={short: original for original, short in names.items()},
                             session_id=cache_key)
