"""The Responses dialect over a WebSocket: each upstream event is one text frame, as it came in.

The runner hands a stream translator's output over as bytes, and frames that arrive together are
joined into one chunk. A WebSocket needs the frames apart, so each is written behind its length
(4 bytes, big-endian) and the session splits a chunk with ``split_frames``: no search through the
event's JSON, no copy beyond the slice. A keepalive is the empty chunk: the session has nothing to
send then (uvicorn pings the client during silences on its own).

Errors are the frame Codex CLI reads on its socket, ``{"type":"error","status":N,"error":{…}}``
with the OpenAI error object inside, and the socket stays open for the next request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import orjson

from cliproxy.dialects.base import JSON, TranslatedRequest
from cliproxy.dialects.openai_responses import DIALECT
from cliproxy.errors import ProxyError, openai_error_body

_LENGTH = 4


def frame(raw: bytes) -> bytes:
    """One frame, ready to be joined with others in a chunk."""
    return len(raw).to_bytes(_LENGTH, "big") + raw


def split_frames(chunk: bytes) -> Iterator[bytes]:
    """The frames of a chunk, in order."""
    view, at = memoryview(chunk), 0
    while at < len(chunk):
        size = int.from_bytes(view[at:at + _LENGTH], "big")
        at += _LENGTH
        yield bytes(view[at:at + size])
        at += size


def error_event(error: ProxyError) -> dict[str, Any]:
    """The error frame's object: the status the HTTP answer would have had, and its body."""
    event: dict[str, Any] = {"type": "error", "status": error.status, **openai_error_body(error)}
    headers = error.headers()
    if headers:
        event["headers"] = headers
    return event


class SocketStream:
    """Every upstream event as one frame; ``codex.*`` events only for a client that knows them."""

    keepalive = b""

    def __init__(self, codex_events: bool) -> None:
        self.codex_events = codex_events

    def feed(self, event: JSON, raw: bytes) -> bytes:
        event_type = event.get("type")
        if type(event_type) is not str:
            return b""
        if not self.codex_events and event_type.startswith("codex."):
            return b""
        return frame(raw)

    def finish(self) -> bytes:
        return b""

    def fail(self, error: ProxyError) -> bytes:
        return frame(orjson.dumps(error_event(error)))


def stream_translator(request: TranslatedRequest) -> SocketStream:
    return SocketStream(codex_events=False)


def native_stream_translator(request: TranslatedRequest) -> SocketStream:
    return SocketStream(codex_events=True)


# ``/v1/responses`` for any client: the backend's ``codex.*`` events are dropped, as over HTTP. The
# name stays the Responses dialect's: the pool words its errors for it (Codex reads ``resets_at``).
SOCKET_DIALECT = dataclasses.replace(DIALECT, stream_translator=stream_translator)
# Codex CLI (on either path) and ``/backend-api/codex/responses``: ``codex.rate_limits`` passes with
# the pool's quota in it.
NATIVE_SOCKET_DIALECT = dataclasses.replace(SOCKET_DIALECT, stream_translator=native_stream_translator,
                                            shows_codex_events=True)

__all__ = ["NATIVE_SOCKET_DIALECT", "SOCKET_DIALECT", "SocketStream", "error_event", "frame", "split_frames"]
