"""A Responses-shaped body posted to ``/v1/chat/completions`` → a Chat body.

Some clients post Responses bodies (``input``/``instructions``) to the Chat route; CPA accepts
them by converting first, so the Chat translator stays the only way in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cliproxy.dialects.base import JSON
from cliproxy.dialects.openai_chat.fields import copy_present, need_dict, optional_list
from cliproxy.errors import bad_request

__all__ = ["responses_body_to_chat"]


def responses_body_to_chat(body: JSON) -> JSON:
    """Convert a Responses request body into a Chat Completions body.

    Some clients post Responses bodies (``input``/``instructions``) to the Chat route; CPA
    accepts them by converting first, so the Chat translator stays the only way in. Fields the
    Chat → Codex step drops anyway (sampling, token limits) are not carried over.
    """
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    chat: JSON = {"model": body.get("model"), "messages": _responses_messages(body)}
    for key in ("stream", "tool_choice"):
        if key in body:
            chat[key] = body[key]
    if isinstance(body.get("tool_choice"), dict):
        chat["tool_choice"] = _responses_tool_choice(body["tool_choice"])
    if isinstance(body.get("tools"), list):
        chat["tools"] = [_responses_tool(tool) for tool in body["tools"]]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    _responses_text_to_chat(body.get("text"), chat)
    return chat


def _responses_messages(body: JSON) -> list[JSON]:
    instructions = body.get("instructions")
    system = [{"role": "system", "content": instructions}] if isinstance(instructions, str) and instructions else []
    source = body.get("input")
    if isinstance(source, str):
        return [*system, {"role": "user", "content": source}]
    return system + _items_to_messages(optional_list(source, "input"))


def _items_to_messages(items: list[Any]) -> list[JSON]:
    """Input items as Chat messages; consecutive function calls form one assistant turn."""
    messages: list[JSON] = []
    pending_calls: list[JSON] = []
    for i, item in enumerate(items):
        item = need_dict(item, f"input[{i}]")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "function_call":
            pending_calls.append(_responses_call_to_tool_call(item))
            continue
        if pending_calls:
            messages.append({"role": "assistant", "content": None, "tool_calls": pending_calls})
            pending_calls = []
        converter = _RESPONSES_ITEMS.get(kind) if isinstance(kind, str) else None
        if converter is not None:
            messages.append(converter(item))
        # reasoning, item_reference and hosted-tool items have no Chat equivalent: dropped.
    if pending_calls:
        messages.append({"role": "assistant", "content": None, "tool_calls": pending_calls})
    return messages


def _responses_message(item: JSON) -> JSON:
    content = item.get("content")
    if isinstance(content, list):
        content = [part for part in map(_responses_part_to_chat, content) if part is not None]
    return {"role": item.get("role"), "content": content}


def _responses_part_to_chat(part: Any) -> JSON | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type") or "input_text"
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text")}
    if kind == "input_image":
        image: JSON = {"url": part.get("image_url")}
        return {"type": "image_url", "image_url": copy_present(image, part, ("detail",))}
    if kind == "input_file":
        return {"type": "file", "file": copy_present({}, part, ("file_id", "file_data", "filename"))}
    return None


def _responses_call_to_tool_call(item: JSON) -> JSON:
    return {
        "id": item.get("call_id"),
        "type": "function",
        "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
    }


def _responses_call_output(item: JSON) -> JSON:
    output = item.get("output")
    if isinstance(output, list):
        output = [part for part in map(_responses_part_to_chat, output) if part is not None]
    return {"role": "tool", "tool_call_id": item.get("call_id"), "content": output}


_RESPONSES_ITEMS: dict[str, Callable[[JSON], JSON]] = {
    "message": _responses_message,
    "function_call_output": _responses_call_output,
}


def _responses_tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("type") != "function" or "function" in tool:
        return tool
    function = copy_present({}, tool, ("name", "description", "parameters", "strict"))
    return {"type": "function", "function": function}


def _responses_tool_choice(choice: JSON) -> JSON:
    if choice.get("type") == "function" and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _responses_text_to_chat(text: Any, chat: JSON) -> None:
    if not isinstance(text, dict):
        return
    fmt = text.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = copy_present({}, fmt, ("name", "description", "strict", "schema"))
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") in ("text", "json_object"):
        chat["response_format"] = {"type": fmt["type"]}
    if text.get("verbosity") is not None:
        chat["text"] = {"verbosity": text["verbosity"]}
