"""What happens when a client request finishes: usage history, metrics, request logs.

``routes.run`` opens a :class:`Trace` per call to the upstream and closes it once: a non-streaming
request when its answer is rendered, a stream when its last byte was sent (or the client went away).
The per-chunk cost is one comparison until the first output byte and one attribute store after; the
response is kept in memory only when ``request-log`` is on. Everything a trace produces is handed
to background writers.

For the dashboard's live view the observer also keeps the traces in flight (one dict insert when a
trace opens, one pop when it closes) and the last ``RECENT`` finished requests as their usage
records, built once at the end anyway: nothing runs per chunk.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from typing import Any

import orjson
from starlette.requests import HTTPConnection

from cliproxy.config.snapshot import SnapshotHolder
from cliproxy.errors import ProxyError
from cliproxy.keys.counters import KeyCounters, Reservation
from cliproxy.observe.metrics import Metrics
from cliproxy.observe.request_log import RequestLogEntry, RequestLogger
from cliproxy.observe.usage import UsageRecord, UsageWriter, token_counts
from cliproxy.runner import Call, CallResult
from cliproxy.server.key_admission import close, key_of

CLIENT_CLOSED = 499  # nginx's code for "the client closed the connection"
RECENT = 200  # finished requests kept in memory for the live view


def _is_keepalive(data: bytes) -> bool:
    """SSE comments (OpenAI dialects) and Anthropic pings carry no output."""
    return data.startswith(b":") or data.startswith(b"event: ping")


def _parsed(body: bytes) -> Any:
    """JSON when it parses (so token fields can be masked), else the bytes as received."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body


class Observer:
    """Fans a finished request out to the sinks; any sink may be absent."""

    def __init__(self, holder: SnapshotHolder, metrics: Metrics, usage: UsageWriter | None = None,
                 request_log: RequestLogger | None = None) -> None:
        self.holder, self.metrics, self.usage, self.request_log = holder, metrics, usage, request_log
        self.in_flight: dict[str, Trace] = {}
        self.recent: deque[UsageRecord] = deque(maxlen=RECENT)

    def begin(self, request: HTTPConnection, call: Call, result: CallResult, body: bytes) -> Trace:
        """``body`` is the client's request body as received (for request logs); ``result`` is read
        when the request finishes."""
        trace = Trace(self, request, call, result, body)
        self.in_flight[trace.request_id] = trace
        return trace


class Trace:
    """One request from its start to its end."""

    __slots__ = ("_observer", "_t0", "body", "call", "chunks", "config", "done", "first_at", "last", "request",
                 "request_id", "reservation", "result", "started", "streaming")

    def __init__(self, observer: Observer, request: HTTPConnection, call: Call, result: CallResult,
                 body: bytes) -> None:
        self._observer = observer
        self.request, self.call, self.result, self.body = request, call, result, body
        self.config = call.config
        self.started, self._t0 = time.time(), time.monotonic()
        self.request_id = secrets.token_hex(8)
        self.chunks: list[bytes] | None = [] if self.config.request_log else None
        self.last = b""
        self.first_at: float | None = None
        self.streaming = self.done = False
        self.reservation: tuple[KeyCounters, Reservation] | None = None

    def hold(self, counters: KeyCounters, reservation: Reservation) -> None:
        """The client key's reservation, settled or released when this trace finishes."""
        self.reservation = (counters, reservation)

    def stream_started(self) -> None:
        self.streaming = True
        self._observer.metrics.active_streams.inc()

    def chunk(self, data: bytes) -> None:
        """A chunk about to be sent to the client."""
        if self.first_at is None and data and not _is_keepalive(data):
            self.first_at = time.monotonic()
        self.last = data
        if self.chunks is not None:
            self.chunks.append(data)

    def finish_stream(self, completed: bool) -> None:
        """The stream ended: all sent, or the client went away (``completed`` False)."""
        self._observer.metrics.active_streams.dec()
        if not completed:
            self.finish(CLIENT_CLOSED, error="client_closed")
        elif self.result.error is not None:  # the runner sent the dialect's error event
            self.finish(200, error=self.result.error.outcome.value)
        elif self.result.credential is None:
            self.finish(200, error="stream_failed")
        else:
            self.finish(200)

    def abort(self, exc: BaseException) -> None:
        """The request ended before a response was committed: a ProxyError (sent as JSON), the
        client going away, or a bug."""
        if isinstance(exc, ProxyError):
            self.finish(exc.status, error=exc.outcome.value,
                        response=orjson.dumps(self.call.dialect.error_body(exc)))
        elif isinstance(exc, asyncio.CancelledError):
            self.finish(CLIENT_CLOSED, error="client_closed")
        else:
            self.finish(500, error="internal_error")

    def finish(self, status: int, *, error: str = "", response: bytes | None = None) -> None:
        if self.done:
            return
        self.done = True
        duration = time.monotonic() - self._t0
        first = self.result.first_content_at or self.first_at
        ttft = None if first is None else first - self._t0
        usage, model = self.result.usage, self.call.model_id
        tokens = token_counts(usage)
        observer = self._observer
        if self.reservation is not None:
            produced = (status == 200 and not error) or self.result.first_content_at is not None
            close(*self.reservation, tokens[4], produced=produced)
        observer.metrics.observe(dialect=self.call.dialect.name, model=model, status=status, error=error,
                                 ttft=ttft, duration=duration, tokens=tokens[:4])
        record = self._usage_record(status, error, model, tokens, ttft, duration)
        observer.in_flight.pop(self.request_id, None)
        observer.recent.append(record)
        if observer.usage is not None and self.config.usage_statistics_enabled:
            observer.usage.record(record)
        if observer.request_log is not None and (self.config.request_log or error or status >= 400):
            observer.request_log.submit(self._log_entry(status, error, model, usage, ttft, duration, response),
                                        full=self.config.request_log,
                                        max_error_files=self.config.error_logs_max_files)

    def _account(self) -> str:
        credential = self.result.credential
        return credential.name if credential is not None else ""

    def _effort(self) -> str:
        reasoning = self.call.request.body.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        return effort if isinstance(effort, str) else ""

    def _usage_record(self, status: int, error: str, model: str, tokens: tuple[int, int, int, int, int],
                      ttft: float | None, duration: float) -> UsageRecord:
        key = key_of(self.request)
        return UsageRecord(
            ts=self.started, request_id=self.request_id, client_key=key.name if key else "",
            account=self._account(), model=model, dialect=self.call.dialect.name, endpoint=self.request.scope["path"],
            effort=self._effort(), input_tokens=tokens[0], cached_tokens=tokens[1], output_tokens=tokens[2],
            reasoning_tokens=tokens[3], total_tokens=tokens[4],
            ttft_ms=None if ttft is None else round(ttft * 1000, 1), duration_ms=round(duration * 1000, 1),
            status=status, error=error, stream=self.streaming)

    def _log_entry(self, status: int, error: str, model: str, usage: dict[str, Any], ttft: float | None,
                   duration: float, response: bytes | None) -> RequestLogEntry:
        if response is None:
            response = b"".join(self.chunks) if self.chunks is not None else self.last
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.request.headers.raw]
        return RequestLogEntry(
            request_id=self.request_id, started=self.started, method=self.request.scope.get("method", "GET"),
            url=self.request.scope["path"], headers=headers, body=_parsed(self.body), status=status, error=error,
            account=self._account(), model=model,
            upstream_body=self.call.request.body, response=response,
            usage=usage, duration_ms=duration * 1000, ttft_ms=None if ttft is None else ttft * 1000)


__all__ = ["RECENT", "Observer", "Trace"]
