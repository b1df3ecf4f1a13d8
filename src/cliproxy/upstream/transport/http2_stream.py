"""One HTTP/2 stream as its request and its reader see it: the request's header fields, the
response's head and unread body, and the body object handed to httpx.

The connection (``http2.py``) feeds a ``Stream`` from h2's events and wakes its reader; the reader
waits on the stream and takes its bytes through the connection, which acknowledges them to the
server. Nothing here touches h2 or the socket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx

from cliproxy.upstream.transport.body import DirectBody
from cliproxy.upstream.transport.wakeup import Wakeup

if TYPE_CHECKING:
    from cliproxy.upstream.transport.http2 import Http2Connection

Fields = list[tuple[bytes, bytes]]
# Hop-by-hop fields have no meaning in HTTP/2 (RFC 9113 §8.2.2); Host becomes :authority.
_NOT_SENT = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                       b"upgrade", b"host", b"te"})

__all__ = ["Fields", "Http2Body", "Stream", "request_fields"]


def request_fields(method: bytes, authority: bytes, target: bytes,
                   headers: Iterable[tuple[bytes, bytes]]) -> Fields:
    """Pseudo-headers first, then the header fields HTTP/2 may carry. h2 checks the pseudo-headers
    but not field values: a CR, LF or NUL (which a hop behind a gateway could turn into a second
    header) is refused here, as the HTTP/1.1 path refuses it."""
    fields = [(b":method", method), (b":authority", authority), (b":scheme", b"https"), (b":path", target)]
    for name, value in headers:
        name = name.lower()
        if name in _NOT_SENT:
            continue
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise httpx.LocalProtocolError("a header value contains a line break or NUL")
        fields.append((name, value))
    return fields


class Stream:
    """One request's response on a connection: its head, the body bytes read but not yet taken,
    and the flow-controlled bytes not yet acknowledged to the server."""

    __slots__ = ("chunks", "complete", "connection", "error", "head_done", "headers", "id", "reads_at_open",
                 "sent_all", "status", "unacked", "wakeup")

    def __init__(self, connection: Http2Connection, stream_id: int, reads: int) -> None:
        self.connection, self.id, self.reads_at_open = connection, stream_id, reads
        self.status = self.unacked = 0
        self.headers: Fields = []
        self.chunks: list[bytes] = []
        self.head_done = self.complete = self.sent_all = False
        self.error: httpx.TransportError | None = None
        self.wakeup = Wakeup()

    def has_body(self) -> bool:
        return bool(self.chunks)

    def take_body(self) -> bytes:
        return self.connection.take(self)

    async def wait(self, timeout: float | None,
                   timeout_error: type[httpx.TimeoutException] = httpx.ReadTimeout) -> None:
        """Until something happens on this stream; ``timeout_error`` after ``timeout`` seconds."""
        if self.error is not None:
            raise self.error
        if not await self.wakeup.wait(timeout):
            raise timeout_error(f"nothing from the upstream for {timeout:g} s")
        if self.error is not None:
            raise self.error

    def wake(self) -> None:
        self.wakeup.wake()

    def fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error
        self.wake()


class Http2Body(DirectBody):
    """A stream's response body; closing it early resets the stream (CANCEL), not the connection."""

    def __init__(self, stream: Stream, read_timeout: float | None) -> None:
        super().__init__(stream, read_timeout)
        self._stream = stream

    @property
    def buffered(self) -> int:
        """Bytes received for this body and not yet taken by its reader."""
        return self._stream.unacked

    async def aclose(self) -> None:
        self._stream.connection.release(self._stream)
