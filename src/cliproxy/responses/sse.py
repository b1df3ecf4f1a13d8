"""SSE frame encoding shared by every dialect (reading the upstream stream: responses/reader.py)."""

from __future__ import annotations

from typing import Any

import orjson

KEEPALIVE_COMMENT = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def data_frame(payload: Any) -> bytes:
    """``data: <json>\\n\\n`` — OpenAI Chat style, no event name."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event_frame(event: str, payload: Any) -> bytes:
    """``event: <name>\\ndata: <json>\\n\\n`` — Anthropic and Responses style."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def raw_event_frame(event: str, raw: bytes) -> bytes:
    """Re-frame an upstream event whose JSON is passed through untouched."""
    return b"event: " + event.encode() + b"\ndata: " + raw + b"\n\n"
