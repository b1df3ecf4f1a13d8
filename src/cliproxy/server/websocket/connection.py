"""One WebSocket client connection: uvicorn's wsproto protocol, with an oversized message answered
instead of the connection closed.

Why wsproto: idle, ``cliproxy serve`` measured 60.4 MiB resident without a WebSocket library, 61.4
with wsproto, 61.5 with ``websockets``' Sans-I/O layer and 61.7 with its asyncio one (three runs
each). The costs are close; wsproto hands a message over in pieces as they arrive, so a message over
the limit can be dropped piece by piece and the connection kept, where ``websockets`` fails the
whole connection with close code 1009 inside its parser.

Over ``limits.websocket-message-bytes`` the pieces read so far are thrown away and the rest of the
message is skipped as it arrives, so a big message costs no more memory than the limit. Once it has
ended, the session is told with a ``websocket.receive`` event carrying ``TOO_LARGE`` and no data,
and answers with an error frame; the client can go on with its next request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.wsproto_impl import FrameTooLargeError, WebsocketBuffer, WSProtocol
from wsproto import events

from cliproxy.config.limits import Limits
from cliproxy.server.websocket import TOO_LARGE


class BoundedWSProtocol(WSProtocol):
    """``WSProtocol`` that drops a message over the limit and reports it instead of closing."""

    current_limits: Callable[[], Limits] = Limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._message_limit = type(self).current_limits().websocket_message_bytes
        self.buffer = WebsocketBuffer(self._message_limit)
        self._skipping = False

    def handle_message(self, event: events.TextMessage | events.BytesMessage) -> None:
        if not self._skipping:
            try:
                self.buffer.extend(event)
            except FrameTooLargeError:
                self.buffer.clear()
                self._skipping = True
        if not event.message_finished:
            return
        if self._skipping:
            self._skipping = False
            dropped: Any = {"type": "websocket.receive", "text": None, "bytes": None, TOO_LARGE: self._message_limit}
            self.queue.put_nowait(dropped)
        else:
            self.queue.put_nowait(self.buffer.to_message())
            self.buffer.clear()
        if not self.read_paused:  # as uvicorn does: read on when the app has taken the message
            self.read_paused = True
            self.transport.pause_reading()


def bounded_protocol_class(limits: Callable[[], Limits]) -> type[BoundedWSProtocol]:
    """The protocol class for uvicorn, reading the running snapshot's limits."""
    return type("BoundedWSProtocol", (BoundedWSProtocol,), {"current_limits": staticmethod(limits)})


__all__ = ["BoundedWSProtocol", "bounded_protocol_class"]
