"""Codex SSE events → Gemini ``streamGenerateContent`` chunks.

Each chunk is one ``GenerateContentResponse`` framed as ``data: <json>\\n\\n``. A finished
function call is held back and sent right before the next chunk (so its ``finishReason:"STOP"``
lands just before the usage chunk, as CPA does).

Divergences from CPA: the final chunk carries ``finishReason`` (``STOP``, or
``MAX_TOKENS``/``SAFETY`` for an incomplete response) and ``thoughtsTokenCount``; a held-back call
still pending at the end is sent by ``finish`` instead of being lost.

Keepalive and errors are shaped for the ``google-genai`` SDK, which parses every non-``data:``
line as JSON: an SSE comment (``: keep-alive``) or an ``event: error`` line would make it raise
``UnknownApiResponseError``. So the keepalive is a bare blank line (a no-op in SSE) and a
mid-stream failure is one ``data: {"error":{…}}`` chunk (docs/errors.md, "Mid-stream errors"), which
the SDK raises as ``APIError`` with the right code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from cliproxy.dialects.base import JSON, EventTable, Handler, TranslatedRequest
from cliproxy.dialects.gemini.response import finish_reason, function_call_part, image_part, rfc3339, usage_metadata
from cliproxy.errors import ProxyError, google_error_body

KEEPALIVE = b"\n"
_DATA = b"data: "
_END = b"\n\n"


class GeminiStream(EventTable):
    """One client stream's state; ``feed`` (from ``EventTable``) is the per-event hot path."""

    __slots__ = ("_create_time", "_held", "_images", "_model", "_names", "_response_id", "_text_seen")

    def __init__(self, req: TranslatedRequest) -> None:
        super().__init__()
        self._model = req.model
        self._names = req.tool_names
        self._response_id = ""
        self._create_time: str | None = None
        self._held = b""
        self._text_seen = False
        self._images: set[str] = set()

    @property
    def keepalive(self) -> bytes:
        return KEEPALIVE

    def finish(self) -> bytes:
        """A function call still held back goes out now rather than being lost."""
        held, self._held = self._held, b""
        return held + self._closing()

    def fail(self, error: ProxyError) -> bytes:
        """Exactly one error chunk; later calls render nothing."""
        if not self._reading:
            return b""
        self._stop_reading()
        self._held = b""
        return self._frame(orjson.dumps(google_error_body(error))) + self._closing()

    # --- chunks --------------------------------------------------------------------------------

    def _frame(self, chunk: bytes) -> bytes:
        """One ``GenerateContentResponse`` as the client reads it: an SSE ``data:`` event."""
        return _DATA + chunk + _END

    def _closing(self) -> bytes:
        """What ends the body after the last chunk: nothing for SSE."""
        return b""

    def _chunk(self, parts: list[JSON], **candidate: Any) -> JSON:
        chunk: JSON = {"candidates": [{"content": {"role": "model", "parts": parts}, **candidate}],
                       "usageMetadata": {"trafficType": "PROVISIONED_THROUGHPUT"},
                       "modelVersion": self._model}
        if self._create_time is not None:
            chunk["createTime"] = self._create_time
        if self._response_id:
            chunk["responseId"] = self._response_id
        return chunk

    def _emit(self, chunk: JSON) -> bytes:
        held, self._held = self._held, b""
        return held + self._frame(orjson.dumps(chunk))

    def _parts(self, parts: list[JSON]) -> bytes:
        return self._emit(self._chunk(parts)) if parts else b""

    # --- handlers ------------------------------------------------------------------------------

    def _created(self, event: JSON) -> bytes:
        response = event.get("response")
        if isinstance(response, dict):
            if isinstance(response.get("id"), str):
                self._response_id = response["id"]
            if isinstance(response.get("model"), str) and response["model"]:
                self._model = response["model"]
            self._create_time = rfc3339(response.get("created_at"))
        return self._emit(self._chunk([]))

    def _reasoning_delta(self, event: JSON) -> bytes:
        delta = event.get("delta")
        return self._parts([{"thought": True, "text": delta}]) if isinstance(delta, str) and delta else b""

    def _text_delta(self, event: JSON) -> bytes:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return b""
        self._text_seen = True
        return self._parts([{"text": delta}])

    def _item_done(self, event: JSON) -> bytes:
        item = event.get("item")
        if not isinstance(item, dict):
            return b""
        handler = self.ITEM_HANDLERS.get(str(item.get("type")))
        return handler(self, item) if handler is not None else b""

    def _message_done(self, item: JSON) -> bytes:
        if self._text_seen:
            self._text_seen = False
            return b""
        content = item.get("content")
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "output_text"] \
            if isinstance(content, list) else []
        return self._parts([{"text": text} for text in texts if isinstance(text, str) and text])

    def _function_call_done(self, item: JSON) -> bytes:
        """Held back; a call already held (parallel calls) goes out now."""
        chunk = self._chunk([function_call_part(item, self._names)], finishReason="STOP")
        out, self._held = self._held, self._frame(orjson.dumps(chunk))
        return out

    def _image(self, data: object, output_format: object) -> bytes:
        if not isinstance(data, str) or not data or data in self._images:
            return b""
        self._images.add(data)
        return self._parts([image_part(data, output_format)])

    def _partial_image(self, event: JSON) -> bytes:
        return self._image(event.get("partial_image_b64"), event.get("output_format"))

    def _image_done(self, item: JSON) -> bytes:
        return self._image(item.get("result"), item.get("output_format"))

    def _completed(self, event: JSON) -> bytes:
        response = event.get("response")
        chunk = self._chunk([], finishReason=finish_reason(response))
        chunk["usageMetadata"] = usage_metadata(response.get("usage") if isinstance(response, dict) else None)
        out = self._emit(chunk)
        self._stop_reading()
        return out

    HANDLERS: ClassVar[Mapping[str, Handler]] = {
        "response.created": _created,
        "response.reasoning_summary_text.delta": _reasoning_delta,
        "response.output_text.delta": _text_delta,
        "response.output_item.done": _item_done,
        "response.image_generation_call.partial_image": _partial_image,
        "response.completed": _completed,
        "response.incomplete": _completed,
    }

    # ``response.output_item.done`` by the item's type.
    ITEM_HANDLERS: ClassVar[Mapping[str, Handler]] = {
        "message": _message_done,
        "function_call": _function_call_done,
        "image_generation_call": _image_done,
    }


class GeminiArrayStream(GeminiStream):
    """``streamGenerateContent`` without ``alt=sse``: Google answers one JSON array of
    ``GenerateContentResponse`` objects, written element by element as they come (``[{…}``,
    ``,\r\n{…}``…, ``]``), so a client reading the whole body gets the list and a client reading
    it incrementally gets each chunk in time. A keepalive (a blank line) is whitespace, which JSON
    allows between elements. A mid-stream failure is a last element ``{"error": {…}}``."""

    __slots__ = ("_started",)

    def __init__(self, req: TranslatedRequest) -> None:
        super().__init__(req)
        self._started = False

    def _frame(self, chunk: bytes) -> bytes:
        if self._started:
            return b",\r\n" + chunk
        self._started = True
        return b"[" + chunk

    def _closing(self) -> bytes:
        return b"]" if self._started else b"[]"


def stream_translator(req: TranslatedRequest) -> GeminiStream:
    return GeminiStream(req)


def array_stream_translator(req: TranslatedRequest) -> GeminiArrayStream:
    return GeminiArrayStream(req)
