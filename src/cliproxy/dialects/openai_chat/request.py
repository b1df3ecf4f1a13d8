"""Chat Completions request → Codex Responses body.

Pure, no I/O. ``json_object`` reaches the backend (a recommended divergence: CPA drops it); a
Responses-shaped body is converted to Chat first so this stays the only way in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cliproxy.dialects import names
from cliproxy.dialects.base import JSON, TranslatedRequest
from cliproxy.dialects.cache_id import uuid5_text
from cliproxy.dialects.openai_chat.fields import copy_present, json_text, need_dict, need_str, optional_list
from cliproxy.dialects.openai_chat.from_responses import responses_body_to_chat
from cliproxy.errors import bad_request

__all__ = ["DEFAULT_EFFORT", "chat_prompt_cache_key", "translate_request"]

DEFAULT_EFFORT = "medium"
_PROMPT_CACHE_PREFIX = "cli-proxy-api:codex:prompt-cache:"


def chat_prompt_cache_key(api_key: str) -> str:
    """The stable prompt-cache id of a Chat client.

    Chat has no conversation id, so the client's API key is the only stable identity; hashing it
    (UUIDv5) keeps the key out of the upstream request while giving the same cache key every turn.
    """
    return uuid5_text(_PROMPT_CACHE_PREFIX + api_key)


def translate_request(body: JSON, headers: Mapping[str, str]) -> TranslatedRequest:
    """Build the Codex Responses body; ``model`` stays as the client sent it (suffix included)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    if "messages" not in body and ("input" in body or "instructions" in body):
        body = responses_body_to_chat(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("`model` is required and must be a non-empty string.")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("`messages` is required and must be an array of message objects.")
    tools = optional_list(body.get("tools"), "tools")
    name_map = names.build_name_map(_declared_tool_names(tools))
    return TranslatedRequest(
        body=_codex_body(body, model, messages, tools, name_map),
        stream=body.get("stream") is True,
        model=model,
        tool_names=names.reverse_map(name_map),
    )


def _codex_body(body: JSON, model: str, messages: list[Any], tools: list[Any], name_map: dict[str, str]) -> JSON:
    """The fields the backend requires, then the client's tools, tool choice and output format."""
    out: JSON = {
        "instructions": "",
        "stream": True,
        "store": False,
        "model": model,
        "reasoning": {"effort": _reasoning_effort(body), "summary": "auto"},
        "parallel_tool_calls": True,
        "include": ["reasoning.encrypted_content"],
        "input": _messages_to_input(messages, name_map),
    }
    if tools:
        out["tools"] = [_tool(tool, f"tools[{i}]", name_map) for i, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"], name_map)
    text = _text_options(body)
    if text:
        out["text"] = text
    return out


def _reasoning_effort(body: JSON) -> str:
    effort = body.get("reasoning_effort")
    if effort is None:
        return DEFAULT_EFFORT
    return need_str(effort, "reasoning_effort")


def _messages_to_input(messages: list[Any], name_map: dict[str, str]) -> list[JSON]:
    items: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        message = need_dict(message, where)
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise bad_request(f"`{where}.role` must be a non-empty string.")
        handler = _ROLE_HANDLERS.get(role, _other_role_message)
        items.extend(handler(message, where, name_map))
    return items


def _message_item(role: str, parts: list[JSON]) -> JSON:
    return {"type": "message", "role": role, "content": parts}


def _developer_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
    """System and developer turns alike: system text goes in as a developer message, not into
    ``instructions``, as CPA does."""
    return [_message_item("developer", _content_parts(message.get("content"), where, "input_text", False))]


def _user_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
    return [_message_item("user", _content_parts(message.get("content"), where, "input_text", True))]


def _other_role_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
    role = str(message["role"])
    return [_message_item(role, _content_parts(message.get("content"), where, "input_text", False))]


def _assistant_message(message: JSON, where: str, name_map: dict[str, str]) -> list[JSON]:
    """Text (if any) as an assistant message, then each tool call as a top-level item.

    An assistant turn that only called tools produces no message item: the backend rejects
    empty assistant messages (CPA issue #2132).
    """
    items: list[JSON] = []
    parts = _content_parts(message.get("content"), where, "output_text", False)
    if parts:
        items.append(_message_item("assistant", parts))
    for j, call in enumerate(optional_list(message.get("tool_calls"), f"{where}.tool_calls")):
        item = _history_tool_call(call, f"{where}.tool_calls[{j}]", name_map)
        if item is not None:
            items.append(item)
    return items


def _history_tool_call(call: Any, where: str, name_map: dict[str, str]) -> JSON | None:
    call = need_dict(call, where)
    if call.get("type", "function") != "function":
        return None
    function = need_dict(call.get("function"), f"{where}.function")
    name = need_str(function.get("name"), f"{where}.function.name")
    arguments = function.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        arguments = json_text(arguments, f"{where}.function.arguments")
    return {
        "type": "function_call",
        "call_id": need_str(call.get("id"), f"{where}.id"),
        "name": names.short_name(name, name_map),
        "arguments": arguments,
    }


def _tool_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
    call_id = need_str(message.get("tool_call_id"), f"{where}.tool_call_id")
    return [
        {
            "type": "function_call_output",
            "call_id": call_id,
            "output": _tool_output(message.get("content"), f"{where}.content"),
        }
    ]


_RoleHandler = Callable[[JSON, str, dict[str, str]], list[JSON]]

_ROLE_HANDLERS: dict[str, _RoleHandler] = {
    "system": _developer_message,
    "developer": _developer_message,
    "user": _user_message,
    "assistant": _assistant_message,
    "tool": _tool_message,
}


# ---- message content parts ------------------------------------------------------------------


def _content_parts(content: Any, where: str, text_type: str, rich: bool) -> list[JSON]:
    """Chat content → Responses parts. ``rich``: images and files are allowed (user turns)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": text_type, "text": content}] if content else []
    if not isinstance(content, list):
        raise bad_request(f"`{where}.content` must be a string or an array of content parts.")
    parts: list[JSON] = []
    for j, part in enumerate(content):
        part_where = f"{where}.content[{j}]"
        part = need_dict(part, part_where)
        if part.get("type") == "text":
            text = need_str(part.get("text"), f"{part_where}.text")
            if text:
                parts.append({"type": text_type, "text": text})
        elif rich and isinstance(part.get("type"), str) and part["type"] in _RICH_PARTS:
            converted = _RICH_PARTS[part["type"]](part, part_where)
            if converted is not None:
                parts.append(converted)
        # input_audio, refusal and unknown parts are dropped: the backend has no place for them.
    return parts


def _image_url_of(part: JSON, where: str) -> str:
    image = part.get("image_url")
    if isinstance(image, dict):
        image = image.get("url")
    return need_str(image, f"{where}.image_url.url")


def _user_image(part: JSON, where: str) -> JSON | None:
    # data: and https: URLs alike; `detail` is dropped as in CPA.
    return {"type": "input_image", "image_url": _image_url_of(part, where)}


def _user_file(part: JSON, where: str) -> JSON | None:
    file = need_dict(part.get("file"), f"{where}.file")
    if not isinstance(file.get("file_data"), str):
        return None  # a bare file_id cannot be resolved: nothing is stored upstream
    out: JSON = {"type": "input_file", "file_data": file["file_data"]}
    if isinstance(file.get("filename"), str):
        out["filename"] = file["filename"]
    return out


_RICH_PARTS: dict[str, Callable[[JSON, str], JSON | None]] = {
    "image_url": _user_image,
    "file": _user_file,
}


def _tool_output(content: Any, where: str) -> Any:
    """A tool message's content as ``function_call_output.output``: a string or input parts."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        return [_tool_output_part(part, f"{where}[{j}]") for j, part in enumerate(content)]
    return json_text(content, where)


def _tool_output_part(part: Any, where: str) -> JSON:
    if isinstance(part, dict):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            return {"type": "input_text", "text": part["text"]}
        if kind == "image_url":
            return _tool_output_image(part)
        if kind == "file" and isinstance(part.get("file"), dict):
            return copy_present(
                {"type": "input_file"}, part["file"], ("file_id", "file_data", "file_url", "filename")
            )
    return {"type": "input_text", "text": json_text(part, where)}


def _tool_output_image(part: JSON) -> JSON:
    image = part.get("image_url")
    out: JSON = {"type": "input_image"}
    if isinstance(image, str):
        out["image_url"] = image
    elif isinstance(image, dict):
        if "url" in image:
            out["image_url"] = image["url"]
        copy_present(out, image, ("file_id", "detail"))
    return out


# ---- tools, tool_choice, response_format --------------------------------------------------


def _declared_tool_names(tools: list[Any]) -> list[str]:
    declared: list[str] = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type", "function") == "function":
            function = tool.get("function")
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                declared.append(function["name"])
    return declared


def _tool(value: Any, where: str, name_map: dict[str, str]) -> JSON:
    """Function tools are flattened (Responses style); every other tool type goes verbatim."""
    tool = need_dict(value, where)
    if tool.get("type", "function") != "function":
        return tool
    function = need_dict(tool.get("function"), f"{where}.function")
    name = need_str(function.get("name"), f"{where}.function.name")
    out: JSON = {"type": "function", "name": names.short_name(name, name_map)}
    copy_present(out, function, ("description", "parameters", "strict"))
    out.setdefault("strict", False)  # the Responses default is strict, which refuses a schema with optional fields
    return out


def _tool_choice(choice: Any, name_map: dict[str, str]) -> Any:
    if isinstance(choice, str):
        return choice
    choice = need_dict(choice, "tool_choice")
    function = choice.get("function")
    if choice.get("type") == "function" and isinstance(function, dict):
        name = need_str(function.get("name"), "tool_choice.function.name")
        return {"type": "function", "name": names.short_name(name, name_map)}
    return choice


def _json_schema_format(response_format: JSON) -> JSON:
    schema = need_dict(response_format.get("json_schema"), "response_format.json_schema")
    return copy_present({"type": "json_schema"}, schema, ("name", "description", "strict", "schema"))


_FORMATS: dict[str, Callable[[JSON], JSON]] = {
    "text": lambda _: {"type": "text"},
    "json_object": lambda _: {"type": "json_object"},  # recommended divergence: CPA drops it
    "json_schema": _json_schema_format,
}


def _text_options(body: JSON) -> JSON:
    """``response_format`` and ``verbosity`` → the Responses ``text`` object (empty when unused)."""
    text: JSON = {}
    response_format = body.get("response_format")
    if response_format is not None:
        response_format = need_dict(response_format, "response_format")
        kind = response_format.get("type")
        if not isinstance(kind, str) or kind not in _FORMATS:
            raise bad_request("`response_format.type` must be one of: text, json_object, json_schema.")
        text["format"] = _FORMATS[kind](response_format)
    client_text = body.get("text")
    verbosity = client_text.get("verbosity") if isinstance(client_text, dict) else None
    if verbosity is None:
        verbosity = body.get("verbosity")  # the standard Chat parameter for GPT-5 models
    if verbosity is not None:
        text["verbosity"] = verbosity
    return text
