"""Bounds on everything a peer sends: the ``limits:`` section of the config.

Every size, count, depth and wait a client or the upstream controls has a limit here, with a default
that no real client or backend comes near, so that a broken or hostile peer costs a bounded amount of
memory and time. Hitting one is answered with a clear error in the client's dialect and one log line
naming the key to raise (docs/config.md, "Limits").
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

PositiveInt = Annotated[int, Meta(ge=1)]
PositiveFloat = Annotated[float, Meta(gt=0)]

KiB = 1024
MiB = 1024 * KiB


class Limits(msgspec.Struct, rename="kebab", frozen=True, kw_only=True):
    """The ``limits:`` section. Keys read at start say so in their comment; the others apply live."""

    # ---- from clients (the front door) -----------------------------------------------------------

    # The body of one client request, as sent (before any decompression).
    request_body_bytes: PositiveInt = 256 * MiB

    # ---- from the upstream (the Codex backend) -----------------------------------------------------

    # One SSE event of the upstream's stream (its data lines together).
    sse_event_bytes: PositiveInt = 50 * MiB


__all__ = ["KiB", "Limits", "MiB"]
