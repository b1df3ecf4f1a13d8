"""Codex SSE events → Anthropic Messages stream.

Invariants Claude Code depends on: every ``content_block_start`` gets its
``content_block_stop`` (without it Claude Code exits 0 with an empty answer), a thinking block
gets its ``signature_delta`` before its stop, at most one block is open at a time, and the
stream ends with either ``message_stop`` or exactly one ``error`` event — never both, never
silently. They live in one state, ``Block``, changed only by ``_open``, ``_close`` and ``_end``
(as h11 keeps a connection's state in one place): opening a block closes the one before it,
closing a thinking block writes its signature first, and ``DONE`` is final.

Divergence from CPA: the summary parts of one reasoning item share one thinking block (joined
by a blank line). CPA opens a block per part, and only the last one can carry the signature, so
Claude Code dropped the earlier ones.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import ClassVar

import orjson

from cliproxy.dialects.anthropic.response import client_tool_id, part_text, stop_reason, usage
from cliproxy.dialects.base import JSON, EventTable, Handler, TranslatedRequest
from cliproxy.errors import Outcome, ProxyError, anthropic_error_body

PING = b'event: ping\ndata: {"type": "ping"}\n\n'

_START = b"event: content_block_start\ndata: "
_DELTA = b"event: content_block_delta\ndata: "
_STOP = b"event: content_block_stop\ndata: "
_END = b"\n\n"
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DISCONNECTED = "stream disconnected before completion: stream closed before response.completed"

_TEXT_BLOCK: JSON = {"type": "text", "text": ""}
_THINKING_BLOCK: JSON = {"type": "thinking", "thinking": ""}
_PARAGRAPH: JSON = {"type": "thinking_delta", "thinking": "\n\n"}


class Block(enum.Enum):
    """Where the client's message stands; the open content block, if any, is the state."""

    IDLE = "idle"  # nothing written yet: message_start is still owed
    NONE = "none"  # message started, no content block open
    TEXT = "text"
    THINKING = "thinking"  # its stop is preceded by the reasoning item's signature, if it has one
    TOOL = "tool"
    DONE = "done"  # message_stop or one error written: nothing more, ever


# Globals for the hot path: ``Block.TEXT`` is an attribute read on the enum class (about 80 ns on
# Python 3.11), a global is one dict read.
_IDLE, _NONE, _TEXT, _THINKING, _TOOL, _DONE = (
    Block.IDLE, Block.NONE, Block.TEXT, Block.THINKING, Block.TOOL, Block.DONE,
)
_OPEN_BLOCKS = frozenset({_TEXT, _THINKING, _TOOL})


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


class _WaitingCall:
    """A function call whose events arrive while another call's block is open (parallel calls
    interleaved by ``output_index``): a client shows one block at a time, so it is kept here and
    written whole, with its own arguments, once that block closes."""

    __slots__ = ("arguments", "done", "item")

    def __init__(self, item: JSON) -> None:
        self.item, self.arguments, self.done = item, "", False


class AnthropicStream(EventTable):
    """One client stream: the ``Block`` state, the block index, and what the current output item
    has already streamed (so its ``done`` event does not repeat it)."""

    __slots__ = (
        "_args_seen",
        "_block",
        "_index",
        "_req",
        "_signature",
        "_summary_seen",
        "_text_seen",
        "_tool_at",
        "_tool_seen",
        "_waiting",
    )

    def __init__(self, req: TranslatedRequest) -> None:
        super().__init__()
        self._req = req
        self._block = _IDLE
        self._index = 0  # the index of the open block, or of the next one
        self._signature = ""  # the current reasoning item's signature, owed before its block stops
        self._summary_seen = False  # the current reasoning item was shown as a thinking block
        self._text_seen = False  # the current message item streamed text
        self._args_seen = False  # the open tool block streamed its arguments
        self._tool_seen = False  # a tool was called: the stop reason is tool_use
        self._tool_at: object = None  # the ``output_index`` of the call the open tool block shows
        self._waiting: dict[object, _WaitingCall] = {}  # calls interleaved with it, by output_index

    # --- protocol ------------------------------------------------------------------------------

    @property
    def keepalive(self) -> bytes:
        """A ``ping`` — after an early ``message_start`` (it carries no content), as the API does."""
        return self._message_start({}) + PING if self._block is _IDLE else PING

    def finish(self) -> bytes:
        """Nothing is owed after ``message_stop``; a stream that never completed is an error."""
        if self._block is _DONE:
            return b""
        return self.fail(ProxyError(502, _DISCONNECTED, type="api_error", outcome=Outcome.DISCONNECTED))

    def fail(self, error: ProxyError) -> bytes:
        """Close the open block, then exactly one ``error`` event; later calls render nothing."""
        if self._block is _DONE:
            return b""
        out = self._close()
        self._end()
        return out + _event("error", anthropic_error_body(error))

    # --- the transitions: the only code that changes ``_block`` ---------------------------------

    def _message_start(self, response: JSON) -> bytes:
        """IDLE → NONE."""
        self._block = _NONE
        model = response.get("model")
        message: JSON = {
            "id": _text_of(response, "id") or "msg_" + uuid.uuid4().hex,
            "type": "message",
            "role": "assistant",
            "model": model if isinstance(model, str) and model else self._req.model,
            "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens(), "output_tokens": 0},
            "content": [],
            "stop_reason": None,
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _input_tokens(self) -> int:
        """The route's local count of the prompt (the API reports the prompt's size here; the exact
        figure, cache reads apart, follows in ``message_delta``)."""
        count = self._req.extra.get("input_tokens")
        return count if isinstance(count, int) else 0

    def _open(self, block: Block, content_block: JSON) -> bytes:
        """Any state before DONE → ``block``: the message started if owed, the open block closed."""
        out = self._message_start({}) if self._block is _IDLE else self._close()
        self._block = block
        start = {"type": "content_block_start", "index": self._index, "content_block": content_block}
        return out + _frame(_START, start)

    def _close(self) -> bytes:
        """An open block → NONE, a thinking block's signature first; any other state is kept."""
        block = self._block
        if block not in _OPEN_BLOCKS:
            return b""
        out = b""
        if block is _THINKING and self._signature:
            out = self._delta({"type": "signature_delta", "signature": self._signature})
        out += _frame(_STOP, {"type": "content_block_stop", "index": self._index})
        self._block = _NONE
        self._index += 1
        return out

    def _end(self) -> None:
        """→ DONE, after the one terminal event: the table is closed, so nothing is written again."""
        self._block = _DONE
        self._stop_reading()

    # --- content -------------------------------------------------------------------------------

    def _delta(self, delta: JSON) -> bytes:
        return _frame(_DELTA, {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _text(self, text: str) -> bytes:
        out = b"" if self._block is _TEXT else self._open(_TEXT, _TEXT_BLOCK)
        self._text_seen = True
        return out + self._delta({"type": "text_delta", "text": text})

    def _thinking(self, text: str) -> bytes:
        out = b"" if self._block is _THINKING else self._open(_THINKING, _THINKING_BLOCK)
        return out + self._delta({"type": "thinking_delta", "thinking": text})

    def _tool_start(self, item: JSON, output_index: object = None) -> bytes:
        self._tool_at = output_index
        name = _text_of(item, "name")
        block = {
            "type": "tool_use",
            "id": client_tool_id(item.get("call_id")),
            "name": self._req.tool_names.get(name, name),
            "input": {},
        }
        self._tool_seen = True
        self._args_seen = False
        return self._open(_TOOL, block) + self._delta({"type": "input_json_delta", "partial_json": ""})

    def _arguments(self, arguments: str) -> bytes:
        self._args_seen = True
        return self._delta({"type": "input_json_delta", "partial_json": arguments})

    # --- event handlers ------------------------------------------------------------------------

    def _on_created(self, event: JSON) -> bytes:
        response = event.get("response")
        return self._message_start(response if isinstance(response, dict) else {}) if self._block is _IDLE else b""

    def _on_item_added(self, event: JSON) -> bytes:
        item = _item(event)
        if _text_of(item, "type") == "function_call":
            return self._call_added(item, event.get("output_index"))
        handler = self.ITEM_ADDED.get(_text_of(item, "type"))
        return handler(self, item) if handler is not None else b""

    def _call_added(self, item: JSON, output_index: object) -> bytes:
        """A call starts its block, unless another call's block is open: then it waits its turn."""
        if self._block is _TOOL and output_index != self._tool_at:
            self._waiting[output_index] = _WaitingCall(item)
            return b""
        return self._tool_start(item, output_index)

    def _reasoning_added(self, item: JSON) -> bytes:
        out = self._close()
        self._signature = _text_of(item, "encrypted_content")
        self._summary_seen = False
        return out

    def _message_added(self, item: JSON) -> bytes:
        self._text_seen = False
        return b""

    def _on_summary_part_added(self, event: JSON) -> bytes:
        if self._block is _THINKING and self._summary_seen:
            return self._delta(_PARAGRAPH)
        self._summary_seen = True
        return self._open(_THINKING, _THINKING_BLOCK)

    def _on_summary_delta(self, event: JSON) -> bytes:
        self._summary_seen = True
        return self._thinking(_text_of(event, "delta"))

    def _on_content_part_added(self, event: JSON) -> bytes:
        return self._open(_TEXT, _TEXT_BLOCK)

    def _on_text_delta(self, event: JSON) -> bytes:
        return self._text(_text_of(event, "delta"))

    def _on_content_part_done(self, event: JSON) -> bytes:
        return self._close() if self._block is _TEXT else b""

    def _on_arguments_delta(self, event: JSON) -> bytes:
        if self._waiting and (waiting := self._waiting.get(event.get("output_index"))) is not None:
            waiting.arguments += _text_of(event, "delta")
            return b""
        return self._arguments(_text_of(event, "delta")) if self._block is _TOOL else b""

    def _on_arguments_done(self, event: JSON) -> bytes:
        arguments = _text_of(event, "arguments")
        if self._waiting and (waiting := self._waiting.get(event.get("output_index"))) is not None:
            waiting.arguments = arguments or waiting.arguments
            return b""
        if self._block is not _TOOL or self._args_seen or not arguments:
            return b""
        return self._arguments(arguments)

    def _on_item_done(self, event: JSON) -> bytes:
        item = _item(event)
        if _text_of(item, "type") == "function_call":
            return self._call_done(item, event.get("output_index"))
        handler = self.ITEM_DONE.get(_text_of(item, "type"))
        return handler(self, item) if handler is not None else b""

    def _reasoning_done(self, item: JSON) -> bytes:
        """The signature goes out: on the open thinking block, or on an empty one if none was shown."""
        self._signature = _text_of(item, "encrypted_content") or self._signature
        out = b""
        if self._block is _THINKING:
            out = self._close()
        elif self._signature and not self._summary_seen:
            out = self._open(_THINKING, _THINKING_BLOCK) + self._close()
        self._signature = ""
        self._summary_seen = False
        return out

    def _message_done(self, item: JSON) -> bytes:
        """The item's text, if no delta streamed it, then the text block closes."""
        out = b""
        if not self._text_seen:
            parts = item.get("content")
            text = "".join(part_text(p) for p in parts) if isinstance(parts, list) else ""
            if text:
                out = self._text(text)
        self._text_seen = False
        return (out + self._close()) if self._block is _TEXT else out

    def _call_done(self, item: JSON, output_index: object) -> bytes:
        """The open call closes and the calls that waited for it follow; a waiting call is marked done;
        a call never announced while another is open waits like one."""
        waiting = self._waiting.get(output_index)
        if waiting is not None or (self._block is _TOOL and output_index != self._tool_at):
            if waiting is None:
                waiting = self._waiting[output_index] = _WaitingCall(item)
            waiting.item, waiting.done = item, True
            return b""
        return self._function_call_done(item, output_index) + self._release_waiting()

    def _function_call_done(self, item: JSON, output_index: object = None) -> bytes:
        """A call never announced is sent whole; arguments no delta carried are sent; it closes."""
        out = b"" if self._block is _TOOL else self._tool_start(item, output_index)
        arguments = _text_of(item, "arguments")
        if not self._args_seen and arguments:
            out += self._arguments(arguments)
        return out + self._close()

    def _release_waiting(self) -> bytes:
        """Waiting calls in the order they began: each done one whole, then the first still streaming
        opens with what it has so far and streams the rest itself."""
        out = b""
        while self._waiting and self._block is not _TOOL:
            output_index, waiting = next(iter(self._waiting.items()))
            del self._waiting[output_index]
            out += self._tool_start(waiting.item, output_index)
            if waiting.arguments:
                out += self._arguments(waiting.arguments)
            if waiting.done:
                out += self._function_call_done(waiting.item, output_index)
        return out

    def _on_terminal(self, event: JSON) -> bytes:
        response = event.get("response")
        response = response if isinstance(response, dict) else {}
        out = self._message_start(response) if self._block is _IDLE else self._close()
        while self._waiting:  # calls the stream never finished are still shown, as far as they came
            out += self._release_waiting() + self._close()
        self._end()
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(response, self._tool_seen), "stop_sequence": None},
            "usage": usage(response),
        }
        return out + _event("message_delta", delta) + _MESSAGE_STOP

    HANDLERS: ClassVar[Mapping[str, Handler]] = {
        "response.created": _on_created,
        "response.output_item.added": _on_item_added,
        "response.output_item.done": _on_item_done,
        "response.reasoning_summary_part.added": _on_summary_part_added,
        "response.reasoning_summary_text.delta": _on_summary_delta,
        "response.content_part.added": _on_content_part_added,
        "response.output_text.delta": _on_text_delta,
        "response.refusal.delta": _on_text_delta,
        "response.content_part.done": _on_content_part_done,
        "response.function_call_arguments.delta": _on_arguments_delta,
        "response.function_call_arguments.done": _on_arguments_done,
        "response.completed": _on_terminal,
        "response.incomplete": _on_terminal,
        # Not rendered: response.in_progress, *.done twins of the deltas above, summary_part.done
        # (the block stays open for the signature), image generation, codex.rate_limits,
        # codex.response.metadata, and error / response.failed — the runner classifies those and
        # calls ``fail`` exactly once.
    }

    # ``response.output_item.added`` / ``.done`` by the item's type.
    ITEM_ADDED: ClassVar[Mapping[str, Handler]] = {
        "reasoning": _reasoning_added,
        "message": _message_added,
    }
    ITEM_DONE: ClassVar[Mapping[str, Handler]] = {
        "reasoning": _reasoning_done,
        "message": _message_done,
    }


def stream_translator(req: TranslatedRequest) -> AnthropicStream:
    return AnthropicStream(req)
