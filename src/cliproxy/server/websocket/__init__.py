"""The Responses API over a WebSocket, as Codex CLI speaks it to chatgpt.com.

``route.py`` accepts the socket on ``/v1/responses`` and ``/backend-api/codex/responses`` (the gate
has checked the client key, the Host and the Origin); ``session.py`` answers each ``response.create``
through the same runner and pool as ``POST /v1/responses``, one event per text frame; the transcript
that lets a follow-up name ``previous_response_id`` is ``responses/transcript.py``; ``connection.py``
is uvicorn's wsproto protocol with the message-size limit answered rather than closed.

wsproto is loaded on the first WebSocket, not at start: a server no client opens a socket to keeps
the memory it had without one (about 1 MiB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from cliproxy.config.limits import Limits

TOO_LARGE = "cliproxy.too_large"  # key of the receive event that stands for a dropped message (its size limit)


def websocket_protocol(limits: Callable[[], Limits]) -> Callable[..., asyncio.Protocol]:
    """What to hand uvicorn as ``ws=``: called like a protocol class on each upgrade, it builds the
    bounded wsproto protocol, importing it the first time."""
    built: list[Callable[..., asyncio.Protocol]] = []

    def protocol(**kwargs: Any) -> asyncio.Protocol:
        if not built:
            from cliproxy.server.websocket.connection import bounded_protocol_class

            built.append(bounded_protocol_class(limits))
        return built[0](**kwargs)

    return protocol


__all__ = ["TOO_LARGE", "websocket_protocol"]
