"""Codex SSE events → Anthropic Messages stream (proxy.md §4.5.1).

Invariants Claude Code depends on (clients.md §2.3): every ``content_block_start`` gets its
``content_block_stop`` (without it Claude Code exits 0 with an empty answer), a thinking block
gets its ``signature_delta`` before its stop, at most one block is open at a time, and the
stream ends with either ``message_stop`` or exactly one ``error`` event — never both, never
silently. Opening a block therefore always closes the one before it.

Divergence from CPA: the summary parts of one reasoning item share one thinking block (joined
by a blank line). CPA opens a block per part, and only the last one can carry the signature, so
Claude Code dropped the earlier ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import orjson

from cliproxy.dialects.anthropic.response import client_tool_id, part_text, stop_reason, usage
from cliproxy.dialects.base import JSON, TranslatedRequest
from cliproxy.errors import Outcome, ProxyError, anthropic_error_body

PING = b'event: ping\ndata: {"type": "ping"}\n\n'

_START = b"event: content_block_start\ndata: "
_DELTA = b"event: content_block_delta\ndata: "
_STOP = b"event: content_block_stop\ndata: "
_END = b"\n\n"
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

_TEXT, _THINKING, _TOOL = "text", "thinking", "tool"


def _frame(prefix: bytes, payload: JSON) -> bytes:
    return prefix + orjson.dumps(payload) + _END


def _event(name: str, payload: JSON) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + _END


def _item(event: JSON) -> JSON:
    item = event.get("item")
    return item if isinstance(item, dict) else {}


def _text_of(event: JSON, key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


class AnthropicStream:
    """One client stream's state; ``feed`` is the per-event hot path."""

    __slots__ = (
        "_args_seen",
        "_done",
        "_index",
        "_open",
        "_req",
        "_signature",
        "_started",
        "_summary_seen",
        "_text_seen",
        "_tool_seen",
    )

    def __init__(self, req: TranslatedRequest) -> None:
        self._req = req
        self._index = 0
        self._open: str | None = None
        self._started = False
        self._done = False
        self._signature = ""
        self._summary_seen = False
        self._text_seen = False
        self._args_seen = False
        self._tool_seen = False

    # --- protocol ------------------------------------------------------------------------------

    @property
    def keepalive(self) -> bytes:
        """A ``ping`` — after an early ``message_start`` (it carries no content), as the API does."""
        return PING if self._started else self._message_start({}) + PING

    def feed(self, event: JSON, raw: bytes) -> bytes:
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if kind.__class__ is str else None
        if handler is None or self._done:
            return b""
        return handler(self, event)

    def finish(self) -> bytes:
        """Nothing is owed after ``message_stop``; a stream that never completed is an error."""
        if self._done:
            return b""
        message = "stream disconnected before completion: stream closed before response.completed"
        return self.fail(ProxyError(502, message, type="api_error", outcome=Outcome.DISCONNECTED))

    def fail(self, error: ProxyError) -> bytes:
        """Close the open block, then exactly one ``error`` event; later calls render nothing."""
        if self._done:
            return b""
        self._done = True
        return self._close() + _event("error", anthropic_error_body(error))

    # --- blocks --------------------------------------------------------------------------------

    def _message_start(self, response: JSON) -> bytes:
        self._started = True
        model = response.get("model")
        message: JSON = {
            "id": _text_of(response, "id") or "msg_" + uuid.uuid4().hex,
            "type": "message",
            "role": "assistant",
            "model": model if isinstance(model, str) and model else self._req.model,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
            "content": [],
            "stop_reason": None,
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        out = b""
        if self._open == _THINKING and self._signature:
            delta = {"type": "signature_delta", "signature": self._signature}
            out = _frame(_DELTA, {"type": "content_block_delta", "index": self._index, "delta": delta})
        out += _frame(_STOP, {"type": "content_block_stop", "index": self._index})
        self._open = None
        self._index += 1
        return out

    def _start(self, kind: str, block: JSON) -> bytes:
        out = b"" if self._started else self._message_start({})
        out += self._close()
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + _frame(_START, start)

    def _delta(self, delta: JSON) -> bytes:
        return _frame(_DELTA, {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _text(self, text: str) -> bytes:
        out = b"" if self._open == _TEXT else self._start(_TEXT, {"type": "text", "text": ""})
        self._text_seen = True
        return out + self._delta({"type": "text_delta", "text": text})

    def _thinking(self, text: str) -> bytes:
        out = b"" if self._open == _THINKING else self._start(_THINKING, {"type": "thinking", "thinking": ""})
        return out + self._delta({"type": "thinking_delta", "thinking": text})

    def _tool_start(self, item: JSON) -> bytes:
        name = _text_of(item, "name")
        block = {
            "type": "tool_use",
            "id": client_tool_id(item.get("call_id")),
            "name": self._req.tool_names.get(name, name),
            "input": {},
        }
        self._tool_seen = True
        self._args_seen = False
        return self._start(_TOOL, block) + self._delta({"type": "input_json_delta", "partial_json": ""})

    def _arguments(self, arguments: str) -> bytes:
        self._args_seen = True
        return self._delta({"type": "input_json_delta", "partial_json": arguments})

    # --- event handlers ------------------------------------------------------------------------

    def _on_created(self, event: JSON) -> bytes:
        response = event.get("response")
        return b"" if self._started else self._message_start(response if isinstance(response, dict) else {})

    def _on_item_added(self, event: JSON) -> bytes:
        item = _item(event)
        kind = item.get("type")
        if kind == "function_call":
            return self._tool_start(item)
        if kind == "reasoning":
            out = self._close()
            self._signature = _text_of(item, "encrypted_content")
            self._summary_seen = False
            return out
        if kind == "message":
            self._text_seen = False
        return b""

    def _on_summary_part_added(self, event: JSON) -> bytes:
        if self._open == _THINKING and self._summary_seen:
            return self._delta({"type": "thinking_delta", "thinking": "\n\n"})
        self._summary_seen = True
        return self._start(_THINKING, {"type": "thinking", "thinking": ""})

    def _on_summary_delta(self, event: JSON) -> bytes:
        self._summary_seen = True
        return self._thinking(_text_of(event, "delta"))

    def _on_content_part_added(self, event: JSON) -> bytes:
        return self._start(_TEXT, {"type": "text", "text": ""})

    def _on_text_delta(self, event: JSON) -> bytes:
        return self._text(_text_of(event, "delta"))

    def _on_content_part_done(self, event: JSON) -> bytes:
        return self._close() if self._open == _TEXT else b""

    def _on_arguments_delta(self, event: JSON) -> bytes:
        return self._arguments(_text_of(event, "delta")) if self._open == _TOOL else b""

    def _on_arguments_done(self, event: JSON) -> bytes:
        arguments = _text_of(event, "arguments")
        if self._open != _TOOL or self._args_seen or not arguments:
            return b""
        return self._arguments(arguments)

    def _on_item_done(self, event: JSON) -> bytes:
        item = _item(event)
        handler = _ITEM_DONE.get(_text_of(item, "type"))
        return handler(self, item) if handler is not None else b""

    def _reasoning_done(self, item: JSON) -> bytes:
        self._signature = _text_of(item, "encrypted_content") or self._signature
        out = b""
        if self._open == _THINKING:
            out = self._close()
        elif self._signature and not self._summary_seen:
            out = self._start(_THINKING, {"type": "thinking", "thinking": ""}) + self._close()
        self._signature = ""
        self._summary_seen = False
        return out

    def _message_done(self, item: JSON) -> bytes:
        out = b""
        if not self._text_seen:
            parts = item.get("content")
            text = "".join(part_text(p) for p in parts) if isinstance(parts, list) else ""
            if text:
                out = self._text(text)
        self._text_seen = False
        return (out + self._close()) if self._open == _TEXT else out

    def _function_call_done(self, item: JSON) -> bytes:
        out = b"" if self._open == _TOOL else self._tool_start(item)
        arguments = _text_of(item, "arguments")
        if not self._args_seen and arguments:
            out += self._arguments(arguments)
        return out + self._close()

    def _on_terminal(self, event: JSON) -> bytes:
        response = event.get("response")
        response = response if isinstance(response, dict) else {}
        out = (b"" if self._started else self._message_start(response)) + self._close()
        self._done = True
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(response, self._tool_seen), "stop_sequence": None},
            "usage": usage(response),
        }
        return out + _event("message_delta", delta) + _MESSAGE_STOP


_Handler = Callable[[AnthropicStream, JSON], bytes]

_HANDLERS: dict[str, _Handler] = {
    "response.created": AnthropicStream._on_created,
    "response.output_item.added": AnthropicStream._on_item_added,
    "response.output_item.done": AnthropicStream._on_item_done,
    "response.reasoning_summary_part.added": AnthropicStream._on_summary_part_added,
    "response.reasoning_summary_text.delta": AnthropicStream._on_summary_delta,
    "response.content_part.added": AnthropicStream._on_content_part_added,
    "response.output_text.delta": AnthropicStream._on_text_delta,
    "response.refusal.delta": AnthropicStream._on_text_delta,
    "response.content_part.done": AnthropicStream._on_content_part_done,
    "response.function_call_arguments.delta": AnthropicStream._on_arguments_delta,
    "response.function_call_arguments.done": AnthropicStream._on_arguments_done,
    "response.completed": AnthropicStream._on_terminal,
    "response.incomplete": AnthropicStream._on_terminal,
    # Not rendered: response.in_progress, *.done twins of the deltas above, summary_part.done
    # (the block stays open for the signature), image generation (§4.5.3), codex.rate_limits,
    # codex.response.metadata, and error / response.failed — the runner classifies those and
    # calls ``fail`` exactly once.
}

_ITEM_DONE: dict[str, _Handler] = {
    "reasoning": AnthropicStream._reasoning_done,
    "message": AnthropicStream._message_done,
    "function_call": AnthropicStream._function_call_done,
}


def stream_translator(req: TranslatedRequest) -> AnthropicStream:
    return AnthropicStream(req)
