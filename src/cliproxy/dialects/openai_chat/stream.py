"""Codex events → ``chat.completion.chunk`` frames.

A leading ``{role:"assistant",content:""}`` chunk follows ``response.created``;
``response.incomplete`` ends the stream with ``finish_reason`` ``length``/``content_filter``; a
failure ends it with one error chunk and no ``[DONE]``. Hot path: frames are spliced from
pre-encoded bytes, one ``orjson.dumps`` of the delta per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from cliproxy.dialects.base import JSON, EventTable, Handler, TranslatedRequest
from cliproxy.dialects.openai_chat.response import (
    created_at,
    image_data_url,
    incomplete_finish_reason,
    str_or_none,
    usage_to_chat,
)
from cliproxy.errors import Outcome, ProxyError, openai_error_body
from cliproxy.responses import sse

__all__ = ["ChatStreamTranslator", "CodexEventStream", "stream_translator"]

_CHUNK_SUFFIX = b',"finish_reason":null,"native_finish_reason":null}]}\n\n'
_LEADING_DELTA = b'{"role":"assistant","content":""}'
_CONTENT_OPEN = b'{"role":"assistant","content":'
_REASONING_OPEN = b'{"role":"assistant","reasoning_content":'
_REASONING_BREAK = b'{"role":"assistant","reasoning_content":"\\n\\n"}'
_ARGS_TEMPLATE = b'{"tool_calls":[{"index":%d,"function":{"arguments":%b}}]}'
_DISCONNECTED = "stream disconnected before completion: stream closed before response.completed"


class _Call:
    """One function call of the stream: its Chat ``index`` and whether arguments were sent."""

    __slots__ = ("args_sent", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.args_sent = False


class CodexEventStream(EventTable):
    """Codex event state machine shared by the Chat and legacy Completions streams.

    Subclasses only decide how each piece (text, reasoning, tool call, image, end) is framed;
    the event bookkeeping (ids, tool-call indexes, duplicate images, terminal state) lives here.
    Every handler in ``HANDLERS`` first lets the chunk prefix follow a ``model`` the event itself
    carries, the first of the three places a chunk's model comes from (then ``response.created``,
    then the requested name); an event we do not render changes nothing.
    """

    keepalive = sse.KEEPALIVE_COMMENT
    object_name = "chat.completion.chunk"
    _choice_key = b'"delta":'  # what follows `"index":0,` in every chunk

    def __init__(self, req: TranslatedRequest) -> None:
        super().__init__()
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

    # ---- the StreamTranslator protocol (``feed`` is EventTable's) ----

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
            "choices": [self._final_choice(finish_reason)],
        }
        if usage is not None:
            chunk["usage"] = usage
        return sse.data_frame(chunk)

    def _final_choice(self, finish_reason: str) -> JSON:
        return {"index": 0, "delta": {}, "finish_reason": finish_reason, "native_finish_reason": finish_reason}

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
            created = created_at(response)
            if created is not None:
                self._created = created
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
            self._image_format[str_or_none(item.get("id"))] = item.get("output_format")
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
        item_id = str_or_none(event.get("item_id"))
        self._last_image[item_id] = b64
        output_format = event.get("output_format") or self._image_format.get(item_id)
        return self._image(image_data_url(b64, output_format))

    def _final_image(self, item: JSON) -> bytes:
        b64 = item.get("result")
        if not isinstance(b64, str) or not b64 or self._last_image.get(str_or_none(item.get("id"))) == b64:
            return b""
        return self._image(image_data_url(b64, item.get("output_format")))

    def _on_completed(self, event: JSON) -> bytes:
        return self._end(event, "tool_calls" if self._call_count else "stop")

    def _on_incomplete(self, event: JSON) -> bytes:
        return self._end(event, incomplete_finish_reason(event.get("response")))

    def _end(self, event: JSON, finish_reason: str) -> bytes:
        """The one final chunk of a stream; a second terminal event (a retried attempt) adds none."""
        if self._terminal:
            return b""
        self._terminal = True
        response = event.get("response")
        usage = usage_to_chat(response.get("usage")) if isinstance(response, dict) else None
        return self._final(finish_reason, usage)

    HANDLERS: ClassVar[Mapping[str, Handler]] = {
        "response.created": _on_response_created,
        "response.output_text.delta": _on_text_delta,
        "response.reasoning_summary_text.delta": _on_reasoning_delta,
        "response.reasoning_summary_text.done": _on_reasoning_done,
        "response.output_item.added": _on_item_added,
        "response.output_item.done": _on_item_done,
        "response.function_call_arguments.delta": _on_arguments_delta,
        "response.function_call_arguments.done": _on_arguments_done,
        "response.image_generation_call.partial_image": _on_partial_image,
        "response.completed": _on_completed,
        "response.incomplete": _on_incomplete,
        # response.failed / error: the runner classifies them and calls fail(); codex.rate_limits,
        # codex.response.metadata and the lifecycle events produce nothing.
    }

    def feed(self, event: JSON, raw: bytes) -> bytes:
        """The table's dispatch (one lookup, one call) after the chunk prefix took the ``model`` the
        event carries: each Chat chunk names the model that wrote it. Written out here, not wrapped
        around each handler, because it runs once per upstream event."""
        model = event.get("model")
        if model.__class__ is str and model != self._model:
            self._model = model
            self._rebuild_prefix()
        try:
            handler = self._handlers.get(event.get("type", ""))
        except TypeError:  # an unhashable "type" is not an event we know
            return b""
        return b"" if handler is None else handler(self, event)


class ChatStreamTranslator(CodexEventStream):
    """The Chat Completions stream (``chat.completion.chunk`` frames, ``[DONE]`` at the end)."""


def stream_translator(req: TranslatedRequest) -> ChatStreamTranslator:
    return ChatStreamTranslator(req)
