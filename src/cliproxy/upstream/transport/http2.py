"""HTTP/2 for our upstream transport: the h2 library's state machine over an asyncio protocol.

Why not httpcore: with nginx TLS+h2 in front of the benchmark's fake upstream, httpx's own HTTP/2
path cost 17-20 µs of CPU per upstream SSE event against 4-6 µs on our HTTP/1.1 transport. A
profile put ~30 % in httpcore and anyio: TLS done in Python over a MemoryBIO, locks, cancel scopes,
and a socket write of a WINDOW_UPDATE per DATA frame. Here the event loop's TLS (in C) hands the
protocol decrypted bytes, h2 turns them into events (framing, HPACK and the state machine are h2's,
none hand-written), and a stream's body reaches its reader as one joined chunk per network read. What a
stream holds, and the body its reader reads, is ``http2_stream.py``; this module is the connection:
h2's events, flow control, GOAWAY and the limits on what a server may ask of it (the pool of
connections per origin is ``http2_pool.py``).

Flow control is the backpressure. Received bytes are acknowledged when the reader takes them, not
on arrival, so a stream whose reader stalls stops its sender after ``STREAM_WINDOW`` unread bytes.
The connection window is so large that it never binds (each stream bounds itself, as in Go's
transport): one stalled reader cannot starve the other streams of the connection. h2 sends a
WINDOW_UPDATE only once half a window is consumed, and whatever h2 has to send goes out in one
write per network read or per take, never one per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import httpx
from h2.errors import ErrorCodes

from cliproxy.config.limits import Limits
from cliproxy.upstream.transport.body import (
    KEEPALIVE_EXPIRY_SECONDS,
    LimitExceeded,
    NotProcessed,
    PoolKey,
    limit_exceeded,
)
from cliproxy.upstream.transport.http2_state import SETTINGS, new_state
from cliproxy.upstream.transport.http2_stream import Fields, Http2Body, Stream

CONNECTION_WINDOW = 1 << 30  # never binds: the stream windows bound memory
SETTINGS_TIMEOUT_SECONDS = 10.0  # a server's preface is its SETTINGS: none by then, no HTTP/2 there
LAST_CLIENT_STREAM_ID = 2**31 - 1
SEND_BUDGET = 1 << 18  # body bytes queued per write: a large body waits for the socket, not in our buffer

class Http2Connection(asyncio.Protocol):
    """One TLS connection speaking HTTP/2: many concurrent requests, one stream each.

    A server that asks for answers faster than it reads them (PING and SETTINGS floods) is cut
    off, as Go's and nginx's HTTP/2 code do: over ``limits.h2-control-frames-per-second``, or over
    ``h2-outbound-buffer-bytes`` queued and unread, the connection goes away with
    ENHANCE_YOUR_CALM and its requests fail as transport errors. Request bodies wait for the
    socket (``pause_writing``), so they never fill that buffer themselves. ``on_closed`` runs
    once the connection closes, ``on_free`` whenever a stream ends (the transport's slots)."""

    def __init__(self, key: PoolKey, limits: Limits | None = None, on_closed: Callable[[], None] | None = None,
                 on_free: Callable[[], None] | None = None) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.goaway = False
        self._limits = limits or Limits()
        self._on_closed, self._on_free = on_closed, on_free
        self._writing_paused = False
        self._control_window_start, self._control_count = 0.0, 0
        self.idle_since = time.monotonic()
        self._h2 = new_state()
        self._streams: dict[int, Stream] = {}
        self._blocked: list[Stream] = []  # senders waiting for flow-control window
        self._reads = self._opened = 0
        # Done at the server's first SETTINGS (or the end): until then its stream limit is unknown,
        # so only the request that opened the connection uses it.
        loop = asyncio.get_running_loop()
        self.settled: asyncio.Future[None] = loop.create_future()
        self._no_settings = loop.call_later(SETTINGS_TIMEOUT_SECONDS, self._abort, httpx.RemoteProtocolError(
            f"the upstream sent no HTTP/2 SETTINGS in {SETTINGS_TIMEOUT_SECONDS:g} s"))

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Our preface, our settings and the connection window raised, in one write."""
        self.transport = cast(asyncio.Transport, transport)
        state = self._h2
        head_limit = self._limits.upstream_head_bytes
        state.local_settings = h2.settings.Settings(
            client=True, initial_values={**SETTINGS, h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: head_limit})
        state.decoder.max_header_list_size = head_limit  # h2 applies the setting only once acknowledged
        state.initiate_connection()
        state.increment_flow_control_window(CONNECTION_WINDOW - state.inbound_flow_control_window)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._reads += 1
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.DenialOfServiceError:  # the one h2 raises for a header block over our setting
            self._calm(limit_exceeded("HTTP/2 response head bytes", self._limits.upstream_head_bytes,
                                      "upstream-head-bytes"))
            return
        except h2.exceptions.ProtocolError as exc:
            self._abort(httpx.RemoteProtocolError(f"invalid HTTP/2 from the upstream: {exc}"))
            return
        for event in events:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
                if self.transport is None or self.transport.is_closing():
                    return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._settle()
        on_closed, self._on_closed = self._on_closed, None
        if on_closed is not None:
            on_closed()
        for stream in self._streams.values():
            if not stream.complete:
                stream.fail(self._lost(stream))

    # --- h2 events, one handler each (see _HANDLERS) -----------------------------------------

    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        for name, value in event.headers:
            if name == b":status":
                stream.status = int(value)
            elif name[:1] != b":":
                stream.headers.append((name, value))
        if len(stream.headers) > self._limits.upstream_header_count:
            stream.fail(limit_exceeded("HTTP/2 response header fields", self._limits.upstream_header_count,
                                       "upstream-header-count"))
            self._reset(event.stream_id)
            return
        stream.head_done = True
        stream.wake()

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:  # nobody reads it: hand its bytes back to the connection window
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            return
        if event.data:
            stream.chunks.append(event.data)
        stream.unacked += event.flow_controlled_length
        stream.wake()

    def _on_end(self, event: h2.events.StreamEnded) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream.complete = True
            stream.wake()

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None or stream.complete:  # NO_ERROR after a whole answer: stop sending, fine
            return
        if event.error_code == ErrorCodes.REFUSED_STREAM:
            stream.fail(NotProcessed("the upstream refused the stream before processing it"))
        else:
            stream.fail(httpx.RemoteProtocolError(f"the upstream reset the stream ({_code(event.error_code)})"))

    def _on_window(self, event: h2.events.WindowUpdated | h2.events.RemoteSettingsChanged) -> None:
        for stream in self._blocked:
            stream.wake()

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self._settle()
        self._on_window(event)  # a new INITIAL_WINDOW_SIZE changes every stream's window
        self._on_control(event)

    def _on_control(self, event: h2.events.Event) -> None:
        """A PING or SETTINGS, each answered by h2: counted per second against the limit."""
        now = time.monotonic()
        if now - self._control_window_start >= 1.0:
            self._control_window_start, self._control_count = now, 0
        self._control_count += 1
        limit = self._limits.h2_control_frames_per_second
        if self._control_count > limit:
            self._calm(limit_exceeded("HTTP/2 PING and SETTINGS frames in one second", limit,
                                      "h2-control-frames-per-second"))

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """No new stream here; those the server did not accept fail as safe to send again."""
        self.goaway = True
        last = event.last_stream_id or 0
        for stream in self._streams.values():
            if stream.id > last and not stream.complete:
                stream.fail(NotProcessed("the upstream is closing the connection and did not process "
                                         f"this request ({_code(event.error_code or 0)})"))
        if not self._streams:
            self.close()

    # --- used by the transport and the body --------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether a new stream may start here now: open, not going away, and below the server's
        MAX_CONCURRENT_STREAMS once known (h2 counts the streams still open)."""
        if self.goaway or not self.settled.done() or self.transport is None or self.transport.is_closing():
            return False
        state = self._h2
        return state.open_outbound_streams < state.remote_settings.max_concurrent_streams \
            and state.highest_outbound_stream_id < LAST_CLIENT_STREAM_ID - 2

    @property
    def reusable(self) -> bool:
        """Whether the pool should keep this connection for later requests."""
        return not self.goaway and self.transport is not None and not self.transport.is_closing()

    def expired(self, now: float) -> bool:
        return not self._streams and now - self.idle_since > KEEPALIVE_EXPIRY_SECONDS

    async def request(self, fields: Fields, body: bytes, timeout: Mapping[str, float | None]) -> httpx.Response:
        """Send one request on a new stream and return once its response head is in."""
        stream = self._open(fields, end_stream=not body)
        try:
            if body:
                await self._send_body(stream, body, timeout.get("write"))
            while not stream.head_done:
                await stream.wait(timeout.get("read"))
        except BaseException:
            self.release(stream)
            raise
        return httpx.Response(
            stream.status,
            headers=stream.headers,
            stream=Http2Body(stream, timeout.get("read")),
            extensions={"http_version": b"HTTP/2", "stream_id": stream.id},
        )

    def take(self, stream: Stream) -> bytes:
        """The body bytes read so far, joined, now acknowledged: the server may send as many again."""
        chunks, stream.chunks = stream.chunks, []
        size, stream.unacked = stream.unacked, 0
        if size and self.transport is not None:
            self._h2.acknowledge_received_data(size, stream.id)
            self._flush()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def release(self, stream: Stream) -> None:
        """The reader is done with a stream: reset it if unfinished (the connection stays usable),
        and give its unread bytes back to the connection window."""
        if self._streams.pop(stream.id, None) is None:
            return
        if self.transport is not None:
            if stream.error is None and not (stream.complete and stream.sent_all):
                self._reset(stream.id)
            if stream.unacked:
                self._h2.acknowledge_received_data(stream.unacked, stream.id)
                stream.unacked = 0
            self._flush()
        if not self._streams:
            self.idle_since = time.monotonic()
            if self.goaway:
                self.close()
        if self._on_free is not None:
            self._on_free()

    def close(self) -> None:
        """GOAWAY, then close once what is buffered is written."""
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):  # h2 already closed it (our abort)
            self._h2.close_connection()
        self._flush()
        self.transport.close()

    # --- internals ---------------------------------------------------------------------------

    def _open(self, fields: Fields, end_stream: bool) -> Stream:
        state = self._h2
        stream_id = state.get_next_available_stream_id()
        try:
            state.send_headers(stream_id, fields, end_stream=end_stream)
        except h2.exceptions.ProtocolError as exc:  # its text may quote a header: never repeated
            raise httpx.LocalProtocolError(f"cannot send the request over HTTP/2 ({type(exc).__name__})") from None
        stream = self._streams[stream_id] = Stream(self, stream_id, self._reads)
        stream.sent_all = end_stream
        self._opened += 1
        self._flush()
        return stream

    async def _send_body(self, stream: Stream, body: bytes, timeout: float | None) -> None:
        """The body in frames of the server's maximum size, as fast as its flow-control windows
        (stream and connection) allow: a large body waits for WINDOW_UPDATEs."""
        view, sent = memoryview(body), 0
        while True:
            sent = self._send_window(stream, view, sent)
            if sent == len(view) or stream.complete:
                return
            self._blocked.append(stream)
            try:
                await stream.wait(timeout, httpx.WriteTimeout)
            finally:
                self._blocked.remove(stream)

    def _send_window(self, stream: Stream, view: memoryview, sent: int) -> int:
        """Queue as much of the body as the windows allow, write it once; the new offset."""
        state, total = self._h2, len(view)
        queued = 0
        try:
            while sent < total and not self._writing_paused:
                size = min(state.local_flow_control_window(stream.id), state.max_outbound_frame_size,
                           total - sent)
                if size <= 0:
                    break
                state.send_data(stream.id, view[sent:sent + size], end_stream=sent + size == total)
                sent, queued = sent + size, queued + size
                if queued >= SEND_BUDGET:  # a write may pause writing: asyncio calls pause_writing then
                    self._flush()
                    queued = 0
        except h2.exceptions.StreamClosedError:  # the server ended or reset it: its answer tells
            sent = total
        if self.transport is None:
            raise stream.error or httpx.WriteError("the upstream closed the connection")
        self._flush()
        stream.sent_all = sent == total
        return sent

    def _reset(self, stream_id: int) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):  # already closed on h2's side
            self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)

    def _lost(self, stream: Stream) -> httpx.TransportError:
        """A connection closed under a stream: safe to send again only if the stream went out on a
        connection that had served others and nothing at all arrived after it (the idle-close
        race; the same rule as HTTP/1.1's keep-alive retry)."""
        if not stream.head_done and stream.reads_at_open == self._reads and self._opened > 1:
            return NotProcessed("the upstream closed an idle connection as the request went out")
        return httpx.ReadError("the upstream closed the connection")

    def _settle(self) -> None:
        if not self.settled.done():
            self._no_settings.cancel()
            self.settled.set_result(None)

    def _abort(self, error: httpx.TransportError) -> None:
        for stream in self._streams.values():
            stream.fail(error)
        self._flush()  # h2's GOAWAY with the error
        if self.transport is not None:
            self.transport.close()

    def _calm(self, error: LimitExceeded) -> None:
        """A server over a limit: GOAWAY ENHANCE_YOUR_CALM instead of the answers queued for it,
        its requests failed, and the connection dropped without waiting for it to read."""
        self.goaway = True
        self._h2.clear_outbound_data_buffer()
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection(error_code=ErrorCodes.ENHANCE_YOUR_CALM)
        for stream in self._streams.values():
            stream.fail(error)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(self._h2.data_to_send())
            transport.abort()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        transport = self.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
            limit = self._limits.h2_outbound_buffer_bytes
            if transport.get_write_buffer_size() > limit:
                self._calm(limit_exceeded("bytes queued for an HTTP/2 upstream that does not read them", limit,
                                          "h2-outbound-buffer-bytes"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        for stream in self._blocked:
            stream.wake()


def _code(error_code: ErrorCodes | int) -> str:
    try:
        return ErrorCodes(error_code).name
    except ValueError:
        return f"error {error_code}"


_HANDLERS: dict[type[h2.events.Event], Any] = {
    h2.events.ResponseReceived: Http2Connection._on_response,
    h2.events.DataReceived: Http2Connection._on_data,
    h2.events.StreamEnded: Http2Connection._on_end,
    h2.events.StreamReset: Http2Connection._on_reset,
    h2.events.WindowUpdated: Http2Connection._on_window,
    h2.events.RemoteSettingsChanged: Http2Connection._on_settings,
    h2.events.PingReceived: Http2Connection._on_control,
    h2.events.ConnectionTerminated: Http2Connection._on_goaway,
}
