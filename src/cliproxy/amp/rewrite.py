"""Answers served here, made to look the way Amp expects them.

Amp checks the model name of what comes back against what it asked for (a Responses stream whose
``response.model`` differs ends in "Unknown OpenAI model"), so a mapped request's answer carries the
name Amp sent. Amp's interface also expects a ``signature`` key on every ``thinking`` and
``tool_use`` block, matches tool names case-sensitively (``Bash``, not ``bash``), and cannot show
thinking next to a tool call in one buffered answer. Streams are never stripped of thinking: that
would shift the block indexes of the events that follow.

A stream is rewritten by whole lines: a line split across two network reads is held until its end
arrives, so a JSON payload is never rewritten in halves. What is held is bounded
(``limits.amp-rewrite-bytes``); a longer line, or a buffered body over the same size, passes
unchanged. Pure: bytes and dicts in, bytes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# Amp's own tools, in the casing its whitelist accepts, for names the request did not list.
BUILTIN_TOOLS = {"bash": "Bash", "read": "Read", "grep": "Grep", "glob": "glob", "task": "Task", "check": "Check"}
SIGNED = ("tool_use", "thinking")
MODEL_FIELDS = (("message", "model"), ("response", "model"), ("response", "modelVersion"))
# Where an error names what went wrong: Anthropic, OpenAI and Gemini error bodies and stream events
# (``error.message``), a failed Responses stream (``response.error.message``).
ERROR_HOLDERS = (("error",), ("response", "error"))


def request_tools(body: Mapping[str, Any]) -> dict[str, str | None]:
    """Lower-cased tool name → the casing the request used (None when it used two)."""
    names = [tool.get("name") for tool in body.get("tools") or () if isinstance(tool, dict)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names.append(choice.get("name"))
    casing: dict[str, str | None] = {}
    for name in names:
        if isinstance(name, str):
            key = name.lower()
            casing[key] = name if casing.get(key, name) == name else None
    return casing


@dataclass(frozen=True)
class Rewriter:
    """One answer's rewrite: the model name Amp sent, its tools, whether thinking may go, and the
    model a mapping served it with (``served``; empty when Amp's own name was served)."""

    model: str
    tools: Mapping[str, str | None]
    suppress_thinking: bool
    served: str = ""

    def body(self, data: bytes, limit: int) -> bytes:
        """A whole JSON answer, rewritten; anything else (or anything over ``limit``) unchanged."""
        if len(data) > limit:
            return data
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if not isinstance(value, dict):
            return data
        self.event(value)
        if self.suppress_thinking:
            _drop_thinking_beside_tools(value)
        return orjson.dumps(value)

    def event(self, value: dict[str, Any]) -> None:
        """Signatures, tool names and model names, in place (one stream event or a whole answer)."""
        blocks = [block for block in value.get("content") or () if isinstance(block, dict)] \
            if isinstance(value.get("content"), list) else []
        block = value.get("content_block")
        if isinstance(block, dict):
            blocks.append(block)
        for item in blocks:
            if item.get("type") in SIGNED:
                item.setdefault("signature", "")
            if item.get("type") == "tool_use" and isinstance(item.get("name"), str):
                item["name"] = self._tool_name(item["name"])
        self._restore_model(value)
        if self.served:
            self._name_the_mapping(value)

    def _tool_name(self, name: str) -> str:
        key = name.lower()
        if key in self.tools:
            return self.tools[key] or name
        return BUILTIN_TOOLS.get(key, name)

    def _restore_model(self, value: dict[str, Any]) -> None:
        for name in ("model", "modelVersion"):
            if name in value:
                value[name] = self.model
        for outer, inner in MODEL_FIELDS:
            nested = value.get(outer)
            if isinstance(nested, dict) and inner in nested:
                nested[inner] = self.model


    def _name_the_mapping(self, value: dict[str, Any]) -> None:
        """An error about a mapped model names Amp's model first: the text below it speaks of the
        model that served it, which Amp never asked for."""
        for path in ERROR_HOLDERS:
            holder: Any = value
            for key in path:
                holder = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and isinstance(holder.get("message"), str):
                holder["message"] = mapped_message(self.model, self.served, holder["message"])
        if value.get("type") == "error" and isinstance(value.get("message"), str):  # a Responses stream's error
            value["message"] = mapped_message(self.model, self.served, value["message"])


def mapped_message(requested: str, served: str, message: str) -> str:
    """An error's text about a mapped model, headed by the model Amp asked for."""
    return f"{requested} (mapped to {served}): {message}"


def _drop_thinking_beside_tools(value: dict[str, Any]) -> None:
    content = value.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
        value["content"] = [b for b in content if not isinstance(b, dict) or b.get("type") not in ("thinking", None)]


class StreamRewriter:
    """An SSE stream rewritten line by line; ``feed`` each chunk, ``finish`` at the end."""

    def __init__(self, rewriter: Rewriter, limit: int) -> None:
        self._rewriter, self._limit = rewriter, limit
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._held + chunk if self._held else chunk
        cut = data.rfind(b"\n") + 1
        if not cut:
            if len(data) > self._limit:  # one endless line: passed on as it is
                self._held = b""
                return data
            self._held = data
            return b""
        self._held = data[cut:]
        return self._lines(data[:cut])

    def finish(self) -> bytes:
        rest, self._held = self._held, b""
        return self._lines(rest) if rest else b""

    def _lines(self, data: bytes) -> bytes:
        if b"data: {" not in data:
            return data
        return b"".join(self._line(line) for line in data.splitlines(keepends=True))

    def _line(self, line: bytes) -> bytes:
        text = line.rstrip(b"\r\n")
        if not text.startswith(b"data: {") or len(text) > self._limit:
            return line
        try:
            value = orjson.loads(text[6:])
        except orjson.JSONDecodeError:
            return line
        if not isinstance(value, dict):
            return line
        self._rewriter.event(value)
        return b"data: " + orjson.dumps(value) + line[len(text):]


__all__ = ["BUILTIN_TOOLS", "Rewriter", "StreamRewriter", "mapped_message", "request_tools"]
