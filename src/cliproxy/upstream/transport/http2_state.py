"""h2's connection state as our HTTP/2 connections use it: the settings we announce, HPACK
without Huffman coding, and GOAWAY that leaves accepted streams open.

h2 cannot finish streams after a GOAWAY: its state machine closes on receipt (python-hyper/h2
#1181) and any later DATA is a protocol error. ``_H2State`` keeps it open, so that streams the
server accepted finish, as RFC 9113 §6.8 intends; no new stream starts on such a connection.
"""

from __future__ import annotations

from collections.abc import Iterable

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from hpack import HeaderTuple
from hyperframe.frame import Frame, GoAwayFrame

STREAM_WINDOW = 1 << 21  # unread bytes a stream may hold; 2 MiB per 100 ms round trip = 20 MB/s
_CONFIG = h2.config.H2Configuration(client_side=True, header_encoding=None)
SETTINGS = {
    h2.settings.SettingCodes.ENABLE_PUSH: 0,
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
    h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 16,
}
_Headers = Iterable[HeaderTuple | tuple[bytes | str, bytes | str] | tuple[bytes | str, bytes | str, bool | None]] \
    | dict[bytes | str, bytes | str]  # what hpack's Encoder.encode takes


class _PlainEncoder(hpack.Encoder):
    """HPACK without Huffman coding. hpack codes Huffman in Python at ~0.25 µs a byte, and h2
    sends ``authorization`` never-indexed, so whole on every request: a ChatGPT access token
    (~2 KB) cost ~0.5 ms of CPU per request, to save a quarter of its bytes."""

    def encode(self, headers: _Headers, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


class _H2State(h2.connection.H2Connection):
    """h2's connection, except that a GOAWAY does not close it to the streams already accepted."""

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        state = self.state_machine.state
        result = super()._receive_goaway_frame(frame)
        if state is not h2.connection.ConnectionState.CLOSED:
            self.state_machine.state = state
        return result


def new_state() -> h2.connection.H2Connection:
    """A client-side h2 connection, not yet started."""
    state = _H2State(_CONFIG)
    state.encoder = _PlainEncoder()
    return state


__all__ = ["SETTINGS", "STREAM_WINDOW", "new_state"]
