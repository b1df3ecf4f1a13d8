"""What the load generator sends and how it reads the answer, per wire format.

Four formats: ``codex`` (the fake's own Responses stream, read directly or through nginx) and the
three client dialects cliproxy serves: ``chat``, ``responses``, ``anthropic``. For each: the route,
the request body (carrying the seed), and a reader that pulls the content text out of one SSE
event. "Content" is what a user sees: output text deltas, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .codex_stream import MODEL
from .content import seed_text

# Reads one event's data; returns (content piece or None, whether it ends the stream).
Reader = Callable[[bytes], tuple[str | None, bool]]

_PROMPT = "Write a short note with code, quotes and some non-ASCII text. "


@dataclass(frozen=True)
class Wire:
    """One wire format: where to POST, what headers, how to build the body, how to read events."""

    name: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: Callable[[int], bytes]
    read: Reader


def _codex_body(seed: int) -> bytes:
    message = {"type": "message", "role": "user",
               "content": [{"type": "input_text", "text": _PROMPT + seed_text(seed)}]}
    return orjson.dumps({"model": MODEL, "instructions": "", "input": [message], "stream": True,
                         "store": False, "include": ["reasoning.encrypted_content"]})


def _chat_body(seed: int) -> bytes:
    return orjson.dumps({"model": MODEL, "stream": True,
                         "messages": [{"role": "user", "content": _PROMPT + seed_text(seed)}]})


def _responses_body(seed: int) -> bytes:
    return orjson.dumps({"model": MODEL, "stream": True, "input": _PROMPT + seed_text(seed)})


def _anthropic_body(seed: int) -> bytes:
    return orjson.dumps({"model": MODEL, "max_tokens": 4096, "stream": True,
                         "messages": [{"role": "user", "content": _PROMPT + seed_text(seed)}]})


def _read_responses(data: bytes) -> tuple[str | None, bool]:
    event: dict[str, Any] = orjson.loads(data)
    kind = event.get("type")
    if kind == "response.output_text.delta":
        return event.get("delta") or None, False
    return None, kind in ("response.completed", "response.failed", "response.incomplete")


def _read_chat(data: bytes) -> tuple[str | None, bool]:
    if data == b"[DONE]":
        return None, True
    chunk: dict[str, Any] = orjson.loads(data)
    choices = chunk.get("choices") or ()
    if not choices:
        return None, False
    return (choices[0].get("delta") or {}).get("content") or None, False


def _read_anthropic(data: bytes) -> tuple[str | None, bool]:
    event: dict[str, Any] = orjson.loads(data)
    kind = event.get("type")
    if kind == "content_block_delta":
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return delta.get("text") or None, False
        return None, False
    return None, kind == "message_stop"


_JSON = (("Content-Type", "application/json"), ("Accept", "text/event-stream"))

WIRES: dict[str, Wire] = {
    "codex": Wire("codex", "/backend-api/codex/responses",
                  (*_JSON, ("Authorization", "Bearer bench-token")), _codex_body, _read_responses),
    "chat": Wire("chat", "/v1/chat/completions",
                 (*_JSON, ("Authorization", "Bearer sk-bench")), _chat_body, _read_chat),
    "responses": Wire("responses", "/v1/responses",
                      (*_JSON, ("Authorization", "Bearer sk-bench")), _responses_body, _read_responses),
    "anthropic": Wire("anthropic", "/v1/messages",
                      (*_JSON, ("x-api-key", "sk-bench"), ("anthropic-version", "2023-06-01")),
                      _anthropic_body, _read_anthropic),
}

DIALECTS = ("chat", "responses", "anthropic")


def event_data(frame: bytes) -> bytes | None:
    """The data of one SSE event (lines joined by ``\\n``), or None for a comment-only frame."""
    if frame.startswith(b"data: ") and b"\n" not in frame:
        return frame[6:]
    parts = [line[5:].removeprefix(b" ") for line in frame.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(parts) if parts else None


@dataclass
class Summary:
    """One response body read to its end."""

    text: str
    events: int
    content_events: int
    terminal: bool


def summarise(body: bytes, read: Reader) -> Summary:
    """Read every event of a finished body: the content text, event counts, terminal seen."""
    pieces: list[str] = []
    events = 0
    terminal = False
    for frame in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = event_data(frame)
        if data is None:
            continue
        events += 1
        piece, ends = read(data)
        if piece:
            pieces.append(piece)
        terminal = terminal or ends
    return Summary("".join(pieces), events, len(pieces), terminal)
