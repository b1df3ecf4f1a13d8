"""Where an attempt's events go: the client's stream through a bounded channel, or a collector for a
non-streaming answer. The pump writes, the client side reads; the channel lets keepalives go out
during silences and pauses the pump while a slow client has ``limits.client-buffer-bytes`` unread."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from cliproxy.credential import Credential
from cliproxy.dialects.base import StreamTranslator
from cliproxy.errors import ProxyError
from cliproxy.responses.events import FAILURE_TYPES, OUTPUT_ITEM_DONE, PREAMBLE_TYPES, RATE_LIMITS, TERMINAL_TYPES
from cliproxy.runner.call import Call, CallResult
from cliproxy.upstream.transport.wakeup import Wakeup

# Events the relay itself reads: always parsed, whatever the dialect would skip.
RUNNER_READS = frozenset(name.encode() for name in (*FAILURE_TYPES, RATE_LIMITS, OUTPUT_ITEM_DONE, *TERMINAL_TYPES))

class Sink(Protocol):
    content_sent: bool
    flush: bool
    by_name_only: frozenset[bytes]
    result: CallResult

    def begin_attempt(self, credential: Credential) -> None: ...

    def event(self, event: dict[str, Any], raw: bytes, event_type: str) -> None: ...

    async def drain(self) -> None: ...


class Channel:
    """Frames from the pump to the client side; ``get`` waits at most ``timeout`` seconds.

    Bounded: ``put`` reports when more than ``limit`` bytes wait for a client that reads slower
    than the upstream sends, and the pump then waits in ``room`` until the client side took them,
    so a stalled client stops the upstream read instead of growing this buffer without end.
    """

    __slots__ = ("_chunks", "_closed", "_committed", "_error", "_held", "_limit", "_room", "_size", "_wakeup")

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._wakeup = Wakeup()
        self._room = Wakeup()
        self._closed = False
        self._held = False  # what is buffered is preamble only: it waits for content, a keepalive or the end
        self._committed = False  # the client side took something: the response has started
        self._error: ProxyError | None = None
        self._size, self._limit = 0, limit

    def put(self, data: bytes) -> bool:
        """Queue ``data``; True when the channel is now full and the pump should wait for ``room``."""
        self._chunks.append(data)
        self._size += len(data)
        self._held = False
        self._wakeup.wake()
        return self._size > self._limit

    def hold(self, data: bytes) -> None:
        """Queue preamble (``response.created``…) without waking the client side: it goes out with the
        first content, at the first keepalive or at a clean end. A failure before then drops it, so
        the client still gets an HTTP error with its real status rather than a 200 and an error event."""
        if self._committed:
            self.put(data)
            return
        self._chunks.append(data)
        self._size += len(data)
        self._held = True

    async def room(self) -> None:
        """Return once the client side took what is buffered (at once if it already has)."""
        while self._size > self._limit and not self._closed:
            await self._room.wait(None)

    def close(self, error: ProxyError | None = None) -> None:
        self._closed, self._error = True, error
        self._wakeup.wake()

    async def get(self, timeout: float | None) -> bytes | None:
        """Buffered frames joined; ``b""`` after ``timeout`` of silence (or the held preamble, which a
        keepalive would commit anyway); None once closed cleanly. Closed with an error before anything
        was taken, the held preamble is dropped and the error raised."""
        if (self._held or not self._chunks) and not self._closed and not await self._wakeup.wait(timeout):
            self._committed = True
            return self._take() if self._chunks else b""
        if self._held and self._error is not None:
            self._chunks.clear()
        if self._chunks:
            self._committed = True
            return self._take()
        if self._error is not None:
            raise self._error
        return None

    def _take(self) -> bytes:
        data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks.clear()
        self._size = 0
        self._held = False
        self._room.wake()
        return data


class StreamSink:
    """Feeds events to the dialect's translator; drops a retry's repeated preamble."""

    def __init__(self, translator: StreamTranslator, channel: Channel, call: Call, result: CallResult) -> None:
        self.translator, self.channel, self.result = translator, channel, result
        self.content_sent = self.preamble_sent = False
        self.flush = False  # the first content frame goes out, or a full channel drains, before more is read
        self.attempts = 0
        self.by_name_only = call.dialect.by_name_only - RUNNER_READS

    def begin_attempt(self, credential: Credential) -> None:
        self.attempts += 1

    def event(self, event: dict[str, Any], raw: bytes, event_type: str) -> None:
        out = self.translator.feed(event, raw)
        if not out:
            return
        if not self.content_sent:
            if event_type in PREAMBLE_TYPES:
                if not (self.attempts > 1 and self.preamble_sent):
                    self.preamble_sent = True
                    self.channel.hold(out)
                return
            self.content_sent = self.flush = True
            self.result.first_content_at = time.monotonic()
        if self.channel.put(out):
            self.flush = True

    async def drain(self) -> None:
        """Let the client side write: at once after the first content, until there is room when full."""
        await asyncio.sleep(0)
        await self.channel.room()


class CollectSink:
    """Non-streaming: keep the terminal event's response; nothing reaches the client early."""

    content_sent = flush = False
    by_name_only: frozenset[bytes] = frozenset()

    def __init__(self, result: CallResult) -> None:
        self.result = result
        self.response: dict[str, Any] | None = None

    def begin_attempt(self, credential: Credential) -> None:
        self.response = None

    def event(self, event: dict[str, Any], raw: bytes, event_type: str) -> None:
        if event_type in TERMINAL_TYPES and isinstance(event.get("response"), dict):
            self.response = event["response"]

    async def drain(self) -> None:
        """Never called: nothing is sent before the end."""


__all__ = ["RUNNER_READS", "Channel", "CollectSink", "Sink", "StreamSink"]
