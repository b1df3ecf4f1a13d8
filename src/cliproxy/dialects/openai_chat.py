"""OpenAI Chat Completions ⇄ Codex Responses (proxy.md §4.1–§4.3, §3.4, §1.1).

Three pure pieces, no I/O: ``translate_request`` builds the Codex body from a Chat body,
``ChatStreamTranslator`` turns Codex events into ``chat.completion.chunk`` frames, and
``render_response`` turns a finished Codex ``response`` object into a ``chat.completion``.

The recommended divergences of the spec are implemented: ``json_object`` reaches the backend,
``response.incomplete`` ends the stream with ``finish_reason`` ``length``/``content_filter``, a
leading ``{role:"assistant",content:""}`` chunk follows ``response.created``, non-stream content
concatenates every text and summary part, and a failure ends the stream with one error chunk and
no ``[DONE]``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from .. import sse
from ..errors import Outcome, ProxyError, bad_request, openai_error_body
from . import names
from .base import JSON, Dialect, TranslatedRequest

__all__ = [
    "DIALECT",
    "ChatStreamTranslator",
    "chat_prompt_cache_key",
    "render_response",
    "responses_body_to_chat",
    "stream_translator",
    "translate_request",
    "usage_to_chat",
]

DEFAULT_EFFORT = "medium"
_PROMPT_CACHE_PREFIX = "cli-proxy-api:codex:prompt-cache:"


def chat_prompt_cache_key(api_key: str) -> str:
    """The stable prompt-cache id of a Chat client (§3.4).

    Chat has no conversation id, so the client's API key is the only stable identity; hashing it
    (UUIDv5) keeps the key out of the upstream request while giving the same cache key every turn.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_OID, _PROMPT_CACHE_PREFIX + api_key))


# --------------------------------------------------------------------------------------------
# Small validators: a wrong type in the client body is the client's fault (400), never a crash.
# --------------------------------------------------------------------------------------------


def _need_dict(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise bad_request(f"`{where}` must be an object.")
    return value


def _need_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"`{where}` must be a string.")
    return value


def _optional_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"`{where}` must be an array.")
    return value


def _json_text(value: Any, where: str) -> str:
    """Client JSON re-encoded as a string (tool arguments, odd tool outputs)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # e.g. an integer beyond 64 bits from a non-orjson parser
        raise bad_request(f"`{where}` cannot be encoded as JSON.") from exc


# --------------------------------------------------------------------------------------------
# Request: Chat body -> Codex body (§4.1)
# --------------------------------------------------------------------------------------------


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
    tools = _optional_list(body.get("tools"), "tools")
    name_map = names.build_name_map(_declared_tool_names(tools))
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
    return TranslatedRequest(
        body=out,
        stream=body.get("stream") is True,
        model=model,
        tool_names=names.reverse_map(name_map),
    )


def _reasoning_effort(body: JSON) -> str:
    effort = body.get("reasoning_effort")
    if effort is None:
        return DEFAULT_EFFORT
    return _need_str(effort, "reasoning_effort")


def _messages_to_input(messages: list[Any], name_map: dict[str, str]) -> list[JSON]:
    items: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        message = _need_dict(message, where)
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise bad_request(f"`{where}.role` must be a non-empty string.")
        handler = _ROLE_HANDLERS.get(role, _other_role_message)
        items.extend(handler(message, where, name_map))
    return items


def _message_item(role: str, parts: list[JSON]) -> JSON:
    return {"type": "message", "role": role, "content": parts}


def _system_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
    # System text goes in as a developer message, not into `instructions` (§4.1).
    return [_message_item("developer", _content_parts(message.get("content"), where, "input_text", False))]


def _developer_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
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
    for j, call in enumerate(_optional_list(message.get("tool_calls"), f"{where}.tool_calls")):
        item = _history_tool_call(call, f"{where}.tool_calls[{j}]", name_map)
        if item is not None:
            items.append(item)
    return items


def _history_tool_call(call: Any, where: str, name_map: dict[str, str]) -> JSON | None:
    call = _need_dict(call, where)
    if call.get("type", "function") != "function":
        return None
    function = _need_dict(call.get("function"), f"{where}.function")
    name = _need_str(function.get("name"), f"{where}.function.name")
    arguments = function.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        arguments = _json_text(arguments, f"{where}.function.arguments")
    return {
        "type": "function_call",
        "call_id": _need_str(call.get("id"), f"{where}.id"),
        "name": names.short_name(name, name_map),
        "arguments": arguments,
    }


def _tool_message(message: JSON, where: str, _: dict[str, str]) -> list[JSON]:
    call_id = _need_str(message.get("tool_call_id"), f"{where}.tool_call_id")
    return [
        {
            "type": "function_call_output",
            "call_id": call_id,
            "output": _tool_output(message.get("content"), f"{where}.content"),
        }
    ]


_RoleHandler = Callable[[JSON, str, dict[str, str]], list[JSON]]

_ROLE_HANDLERS: dict[str, _RoleHandler] = {
    "system": _system_message,
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
        part = _need_dict(part, part_where)
        if part.get("type") == "text":
            text = _need_str(part.get("text"), f"{part_where}.text")
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
    return _need_str(image, f"{where}.image_url.url")


def _user_image(part: JSON, where: str) -> JSON | None:
    # data: and https: URLs alike; `detail` is dropped as in CPA (§4.1).
    return {"type": "input_image", "image_url": _image_url_of(part, where)}


def _user_file(part: JSON, where: str) -> JSON | None:
    file = _need_dict(part.get("file"), f"{where}.file")
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
    return _json_text(content, where)


def _tool_output_part(part: Any, where: str) -> JSON:
    if isinstance(part, dict):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            return {"type": "input_text", "text": part["text"]}
        if kind == "image_url":
            return _tool_output_image(part)
        if kind == "file" and isinstance(part.get("file"), dict):
            return _copy_present(
                {"type": "input_file"}, part["file"], ("file_id", "file_data", "file_url", "filename")
            )
    return {"type": "input_text", "text": _json_text(part, where)}


def _tool_output_image(part: JSON) -> JSON:
    image = part.get("image_url")
    out: JSON = {"type": "input_image"}
    if isinstance(image, str):
        out["image_url"] = image
    elif isinstance(image, dict):
        if "url" in image:
            out["image_url"] = image["url"]
        _copy_present(out, image, ("file_id", "detail"))
    return out


def _copy_present(out: JSON, source: JSON, keys: Iterable[str]) -> JSON:
    for key in keys:
        if key in source and source[key] is not None:
            out[key] = source[key]
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
    tool = _need_dict(value, where)
    if tool.get("type", "function") != "function":
        return tool
    function = _need_dict(tool.get("function"), f"{where}.function")
    name = _need_str(function.get("name"), f"{where}.function.name")
    out: JSON = {"type": "function", "name": names.short_name(name, name_map)}
    return _copy_present(out, function, ("description", "parameters", "strict"))


def _tool_choice(choice: Any, name_map: dict[str, str]) -> Any:
    if isinstance(choice, str):
        return choice
    choice = _need_dict(choice, "tool_choice")
    function = choice.get("function")
    if choice.get("type") == "function" and isinstance(function, dict):
        name = _need_str(function.get("name"), "tool_choice.function.name")
        return {"type": "function", "name": names.short_name(name, name_map)}
    return choice


def _json_schema_format(response_format: JSON) -> JSON:
    schema = _need_dict(response_format.get("json_schema"), "response_format.json_schema")
    return _copy_present({"type": "json_schema"}, schema, ("name", "description", "strict", "schema"))


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
        response_format = _need_dict(response_format, "response_format")
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


# --------------------------------------------------------------------------------------------
# A Responses-shaped body posted to /v1/chat/completions (§1.1)
# --------------------------------------------------------------------------------------------


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
    messages: list[JSON] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    source = body.get("input")
    if isinstance(source, str):
        messages.append({"role": "user", "content": source})
        return messages
    pending_calls: list[JSON] = []
    for i, item in enumerate(_optional_list(source, "input")):
        item = _need_dict(item, f"input[{i}]")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "function_call":
            pending_calls.append(_responses_call_to_tool_call(item))
            continue
        if pending_calls:  # consecutive calls form one assistant turn
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
        return {"type": "image_url", "image_url": _copy_present(image, part, ("detail",))}
    if kind == "input_file":
        return {"type": "file", "file": _copy_present({}, part, ("file_id", "file_data", "filename"))}
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
    function = _copy_present({}, tool, ("name", "description", "parameters", "strict"))
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
        schema = _copy_present({}, fmt, ("name", "description", "strict", "schema"))
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") in ("text", "json_object"):
        chat["response_format"] = {"type": fmt["type"]}
    if text.get("verbosity") is not None:
        chat["text"] = {"verbosity": text["verbosity"]}


# --------------------------------------------------------------------------------------------
# Shared by stream and non-stream: usage, finish reason, images
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Stream: Codex events -> chat.completion.chunk frames (§4.2)
# --------------------------------------------------------------------------------------------

_CHUNK_SUFFIX = b',"finish_reason":null,"native_finish_reason":null}]}\n\n'
_LEADING_DELTA = b'{"role":"assistant","content":""}'
_CONTENT_OPEN = b'{"role":"assistant","content":'
_REASONING_OPEN = b'{"role":"assistant","reasoning_content":'
_REASONING_BREAK = b'{"role":"assistant","reasoning_content":"\\n\\n"}'
_ARGS_TEMPLATE = b'{"tool_calls":[{"index":%d,"function":{"arguments":%b}}]}'
_DISCONNECTED = "stream disconnected before completion: stream closed before response.completed"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Call:
    """One function call of the stream: its Chat ``index`` and whether arguments were sent."""

    __slots__ = ("args_sent", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.args_sent = False


class CodexEventStream:
    """Codex event state machine shared by the Chat and legacy Completions streams.

    Subclasses only decide how each piece (text, reasoning, tool call, image, end) is framed;
    the event bookkeeping (ids, tool-call indexes, duplicate images, terminal state) lives here.
    """

    keepalive = sse.KEEPALIVE_COMMENT
    object_name = "chat.completion.chunk"
    _choice_key = b'"delta":'  # what follows `"index":0,` in every chunk

    def __init__(self, req: TranslatedRequest) -> None:
        self._names = req.tool_names
        self._id = ""
        self._created = 0
        self._model = req.model
        self._calls: dict[Any, _Call] = {}
        self._call_count = 0
        self._last_image: dict[str | None, str] = {}
        self._image_format: dict[str | None, Any] = {}
        self._started = False
        self._terminal = False
        self._failed = False
        self._prefix = b""
        self._rebuild_prefix()

    # ---- the StreamTranslator protocol ----

    def feed(self, event: JSON, raw: bytes) -> bytes:
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if kind.__class__ is str else None
        if handler is None:
            return b""
        model = event.get("model")
        if model.__class__ is str and model != self._model:
            self._model = model
            self._rebuild_prefix()
        return handler(self, event)

    def finish(self) -> bytes:
        if self._failed:
            return b""
        if not self._terminal:  # the upstream ended without a terminal event: never a silent end
            return self.fail(ProxyError(502, _DISCONNECTED, outcome=Outcome.DISCONNECTED))
        return sse.DONE

    def fail(self, error: ProxyError) -> bytes:
        if self._failed:
            return b""
        self._failed = True
        return sse.data_frame(openai_error_body(error))

    # ---- framing hooks (overridden per dialect) ----

    def _rebuild_prefix(self) -> None:
        self._prefix = b"".join(
            (
                b'data: {"id":',
                orjson.dumps(self._id),
                b',"object":"',
                self.object_name.encode(),
                b'","created":',
                orjson.dumps(self._created),
                b',"model":',
                orjson.dumps(self._model),
                b',"choices":[{"index":0,',
                self._choice_key,
            )
        )

    def _chunk(self, delta: bytes) -> bytes:
        return b"".join((self._prefix, delta, _CHUNK_SUFFIX))

    def _on_created(self) -> bytes:
        return self._chunk(_LEADING_DELTA)

    def _content(self, text: str) -> bytes:
        return b"".join((self._prefix, _CONTENT_OPEN, orjson.dumps(text), b"}", _CHUNK_SUFFIX))

    def _reasoning(self, text: str) -> bytes:
        return b"".join((self._prefix, _REASONING_OPEN, orjson.dumps(text), b"}", _CHUNK_SUFFIX))

    def _reasoning_break(self) -> bytes:
        return self._chunk(_REASONING_BREAK)

    def _tool_call(self, index: int, call_id: Any, name: str, arguments: str) -> bytes:
        call = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return self._chunk(orjson.dumps({"role": "assistant", "tool_calls": [call]}))

    def _tool_arguments(self, index: int, arguments: str) -> bytes:
        return self._chunk(_ARGS_TEMPLATE % (index, orjson.dumps(arguments)))

    def _image(self, url: str) -> bytes:
        image = {"type": "image_url", "index": 0, "image_url": {"url": url}}
        return self._chunk(orjson.dumps({"role": "assistant", "images": [image]}))

    def _final(self, finish_reason: str, usage: JSON | None) -> bytes:
        chunk: JSON = {
            "id": self._id,
            "object": self.object_name,
            "created": self._created,
            "model": self._model,
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "finish_reason": finish_reason,
                    "native_finish_reason": finish_reason,
                }
            ],
        }
        if usage is not None:
            chunk["usage"] = usage
        return sse.data_frame(chunk)

    # ---- event handlers (see _HANDLERS) ----

    def _on_response_created(self, event: JSON) -> bytes:
        """Remember id, created_at and model; a repeated ``response.created`` (a retried attempt)
        keeps the first identity so every chunk of one client stream carries the same id."""
        if self._started:
            return b""
        self._started = True
        response = event.get("response")
        if isinstance(response, dict):
            if isinstance(response.get("id"), str):
                self._id = response["id"]
            if isinstance(response.get("created_at"), int | float):
                self._created = int(response["created_at"])
            if isinstance(response.get("model"), str) and response["model"]:
                self._model = response["model"]
            self._rebuild_prefix()
        return self._on_created()

    def _on_text_delta(self, event: JSON) -> bytes:
        delta = event.get("delta")
        return self._content(delta) if delta.__class__ is str else b""

    def _on_reasoning_delta(self, event: JSON) -> bytes:
        delta = event.get("delta")
        return self._reasoning(delta) if delta.__class__ is str else b""

    def _on_reasoning_done(self, event: JSON) -> bytes:
        return self._reasoning_break()

    def _key(self, event: JSON) -> Any:
        index = event.get("output_index")
        if isinstance(index, int):
            return index
        item = event.get("item")
        item_id = item.get("id") if isinstance(item, dict) else event.get("item_id")
        return item_id if isinstance(item_id, str) else None

    def _find_call(self, event: JSON) -> _Call | None:
        key = self._key(event)
        return self._calls.get(key) if key is not None else None

    def _new_call(self, event: JSON) -> _Call:
        call = _Call(self._call_count)
        self._call_count += 1
        key = self._key(event)
        if key is not None:
            self._calls[key] = call
        return call

    def _on_item_added(self, event: JSON) -> bytes:
        item = event.get("item")
        if not isinstance(item, dict):
            return b""
        if item.get("type") == "image_generation_call":
            self._image_format[_str_or_none(item.get("id"))] = item.get("output_format")
            return b""
        if item.get("type") != "function_call" or self._find_call(event) is not None:
            return b""
        call = self._new_call(event)
        return self._tool_call(call.index, item.get("call_id"), self._client_name(item), "")

    def _on_arguments_delta(self, event: JSON) -> bytes:
        call = self._find_call(event)
        delta = event.get("delta")
        if call is None or not isinstance(delta, str):
            return b""  # unannounced call: output_item.done sends it whole
        call.args_sent = True
        return self._tool_arguments(call.index, delta)

    def _on_arguments_done(self, event: JSON) -> bytes:
        call = self._find_call(event)
        arguments = event.get("arguments")
        if call is None or call.args_sent or not isinstance(arguments, str):
            return b""
        call.args_sent = True
        return self._tool_arguments(call.index, arguments)

    def _on_item_done(self, event: JSON) -> bytes:
        item = event.get("item")
        if not isinstance(item, dict):
            return b""
        kind = item.get("type")
        if kind == "image_generation_call":
            return self._final_image(item)
        if kind != "function_call" or self._find_call(event) is not None:
            return b""
        call = self._new_call(event)  # fallback: the call was never announced
        call.args_sent = True
        arguments = item.get("arguments")
        return self._tool_call(
            call.index,
            item.get("call_id"),
            self._client_name(item),
            arguments if isinstance(arguments, str) else "",
        )

    def _client_name(self, item: JSON) -> str:
        name = item.get("name")
        if not isinstance(name, str):
            return ""
        return self._names.get(name, name)

    def _on_partial_image(self, event: JSON) -> bytes:
        b64 = event.get("partial_image_b64")
        if not isinstance(b64, str) or not b64:
            return b""
        item_id = _str_or_none(event.get("item_id"))
        self._last_image[item_id] = b64
        output_format = event.get("output_format") or self._image_format.get(item_id)
        return self._image(image_data_url(b64, output_format))

    def _final_image(self, item: JSON) -> bytes:
        b64 = item.get("result")
        if not isinstance(b64, str) or not b64 or self._last_image.get(_str_or_none(item.get("id"))) == b64:
            return b""
        return self._image(image_data_url(b64, item.get("output_format")))

    def _on_completed(self, event: JSON) -> bytes:
        if self._terminal:
            return b""
        self._terminal = True
        response = event.get("response")
        usage = usage_to_chat(response.get("usage")) if isinstance(response, dict) else None
        return self._final("tool_calls" if self._call_count else "stop", usage)

    def _on_incomplete(self, event: JSON) -> bytes:
        if self._terminal:
            return b""
        self._terminal = True
        response = event.get("response")
        usage = usage_to_chat(response.get("usage")) if isinstance(response, dict) else None
        return self._final(incomplete_finish_reason(response), usage)


_HANDLERS: dict[str, Callable[[CodexEventStream, JSON], bytes]] = {
    "response.created": CodexEventStream._on_response_created,
    "response.output_text.delta": CodexEventStream._on_text_delta,
    "response.reasoning_summary_text.delta": CodexEventStream._on_reasoning_delta,
    "response.reasoning_summary_text.done": CodexEventStream._on_reasoning_done,
    "response.output_item.added": CodexEventStream._on_item_added,
    "response.output_item.done": CodexEventStream._on_item_done,
    "response.function_call_arguments.delta": CodexEventStream._on_arguments_delta,
    "response.function_call_arguments.done": CodexEventStream._on_arguments_done,
    "response.image_generation_call.partial_image": CodexEventStream._on_partial_image,
    "response.completed": CodexEventStream._on_completed,
    "response.incomplete": CodexEventStream._on_incomplete,
    # response.failed / error: the runner classifies them and calls fail(); codex.rate_limits,
    # codex.response.metadata and the lifecycle events produce nothing.
}


class ChatStreamTranslator(CodexEventStream):
    """The Chat Completions stream (``chat.completion.chunk`` frames, ``[DONE]`` at the end)."""


def stream_translator(req: TranslatedRequest) -> ChatStreamTranslator:
    return ChatStreamTranslator(req)


# --------------------------------------------------------------------------------------------
# Non-stream: Codex response object -> chat.completion (§4.3)
# --------------------------------------------------------------------------------------------


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
    name = _str_or_none(item.get("name")) or ""
    arguments = _str_or_none(item.get("arguments")) or ""
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
    created = response.get("created_at")
    return int(created) if isinstance(created, int | float) else int(time.time())


DIALECT = Dialect(
    name="openai",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=openai_error_body,
    same_family_as_codex=True,
)
