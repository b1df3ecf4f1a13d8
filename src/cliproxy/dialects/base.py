"""What every dialect provides, so the runner and routes stay dialect-agnostic.

A dialect is a pair of pure translations: the client's request into a Codex Responses body, and
the Codex event stream back into the client's frames (streaming) or body (non-streaming). No I/O,
no clock reads that matter, no credentials, no config singleton.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from cliproxy.errors import ProxyError

JSON = dict[str, Any]


@dataclass
class TranslatedRequest:
    """A client request turned into a Codex Responses body, plus what the way back needs.

    ``body["model"]`` holds the model name exactly as the client sent it (suffix included); the
    route resolves it through the model registry and rewrites it to the upstream name.
    ``tool_names`` maps the (possibly shortened) upstream tool name back to the client's name.
    ``session_id`` is a prompt-cache identity the dialect derived (Claude Code session, or a hash of a
    conversation's opening for clients that name none), if any.
    """

    body: JSON
    stream: bool
    model: str
    tool_names: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None
    extra: JSON = field(default_factory=dict)


class StreamTranslator(Protocol):
    """Turns parsed upstream events into the client's SSE bytes. One instance per client request.

    ``feed`` gets each upstream event parsed once (``event``) and its raw JSON (``raw``) for
    dialects that pass it through; it returns the bytes to write (``b""`` for none).
    ``finish`` is called once after ``response.completed`` (or ``response.incomplete``) was fed
    and the upstream ended; ``fail`` renders exactly one terminal error event.
    """

    @property
    def keepalive(self) -> bytes:
        """The frame written after ``streaming.keepalive-seconds`` of silence."""

    def feed(self, event: JSON, raw: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def fail(self, error: ProxyError) -> bytes: ...


Handler = Callable[[Any, JSON], bytes]
_CLOSED: Mapping[str, Handler] = {}


class EventTable:
    """``feed`` for a translator that is a table of small functions, one per upstream event type.

    A subclass lists its handlers in ``HANDLERS`` (event type → method, written in the class body);
    an event type missing from the table renders nothing. ``feed`` is the per-event hot path of
    every stream, so it costs one dict lookup and one call: no wrapper, no allocation. A translator
    whose stream has ended calls ``_stop_reading`` and its table is swapped for an empty one, so a
    late or retried event cannot write past the end.
    """

    __slots__ = ("_handlers",)

    HANDLERS: ClassVar[Mapping[str, Handler]] = _CLOSED

    def __init__(self) -> None:
        self._handlers = self.HANDLERS

    def feed(self, event: JSON, raw: bytes) -> bytes:
        try:
            handler = self._handlers.get(event.get("type", ""))
        except TypeError:  # an unhashable "type" from a broken upstream is not an event we know
            return b""
        return b"" if handler is None else handler(self, event)

    def _stop_reading(self) -> None:
        self._handlers = _CLOSED

    @property
    def _reading(self) -> bool:
        return self._handlers is not _CLOSED


@dataclass(frozen=True)
class Dialect:
    """The table of functions a dialect module exports."""

    name: str  # "openai" (chat), "completions", "openai-response", "claude", "gemini"
    translate_request: Callable[[JSON, Mapping[str, str]], TranslatedRequest]
    stream_translator: Callable[[TranslatedRequest], StreamTranslator]
    render_response: Callable[[JSON, TranslatedRequest], JSON]
    error_body: Callable[[ProxyError], JSON]
    # Whether the client speaks an OpenAI dialect. CPA refused a reasoning level the model lacks from
    # those clients (400) and clamped it for the others; we clamp for all, but keep the distinction.
    same_family_as_codex: bool = False
    # Upstream event names (SSE ``event:``) whose JSON this dialect's stream translator never
    # reads: it gets ``{"type": name}`` and the raw bytes, and the JSON is not parsed at all.
    by_name_only: frozenset[bytes] = frozenset()
    # The backend's own ``codex.*`` events reach this dialect's client (Codex CLI's native route):
    # only then is ``codex.rate_limits`` rewritten with the pool's quota.
    shows_codex_events: bool = False
    # The ``Content-Type`` of a streamed answer (Gemini's JSON-array stream is ``application/json``).
    stream_media_type: str = "text/event-stream"
