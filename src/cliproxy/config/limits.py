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

    # The body of one client request, as sent (before any decompression): 413. Live.
    request_body_bytes: PositiveInt = 256 * MiB
    # The body once its Content-Encoding (zstd, gzip, deflate) is undone, after each coding: 413.
    # Decompression stops one byte past it, so a small bomb costs at most this much memory. Live.
    request_decoded_bytes: PositiveInt = 256 * MiB
    # How deep objects and arrays may nest in a JSON body: 400. At most 200, because the body is
    # serialised again on its way out and the serialiser refuses anything past 255 levels. Live.
    request_json_depth: Annotated[int, Meta(ge=1, le=200)] = 128
    # The request line and headers of one request together, in bytes: 431, before any key check.
    # Live for connections opened after a reload.
    request_head_bytes: PositiveInt = 64 * KiB
    # How many header lines one request may carry: 431. Live for new connections.
    request_header_count: PositiveInt = 100
    # Seconds a client has to send a whole request head, counted from its first byte (or from the
    # connection's opening for its first request); a slower one (slowloris) is disconnected.
    # Live for new connections.
    request_head_seconds: PositiveFloat = 30.0
    # Seconds an idle keep-alive connection stays open between requests. Live for new connections.
    client_idle_seconds: PositiveFloat = 5.0
    # Bytes of a streamed answer held for a client that reads slower than the upstream sends; when
    # full, reading from the upstream pauses until the client catches up. Live for new requests.
    client_buffer_bytes: PositiveInt = 8 * MiB

    # ---- from WebSocket clients (Responses over WebSocket) -----------------------------------------

    # One message a WebSocket client sends (a ``response.create``), in bytes once reassembled; a bigger
    # one is dropped and answered with an error frame, the socket stays open. Codex CLI's own limit
    # is 16 MiB. Live for connections opened after a reload.
    websocket_message_bytes: PositiveInt = 16 * MiB
    # The transcript one WebSocket connection keeps (the last request's input and the last answer's
    # output), so a follow-up that names ``previous_response_id`` can be sent whole; past it the
    # transcript is dropped and the client is asked to send its full context again. Live.
    websocket_transcript_bytes: PositiveInt = 32 * MiB

    # ---- from the upstream (the Codex backend) -----------------------------------------------------

    # One SSE event of the upstream's stream (its data lines together). Live.
    sse_event_bytes: PositiveInt = 50 * MiB

    # The head of one HTTP/1.1 response (status line and headers), as h11 bounds it. Live.
    upstream_head_bytes: PositiveInt = 64 * KiB

    # The header lines in one HTTP/1.1 response head. Live.
    upstream_header_count: PositiveInt = 100

    # A response body read whole (error answers, compaction, usage reads, model discovery, the
    # relayed ChatGPT backend requests), both as sent and once decompressed. Live.
    upstream_body_bytes: PositiveInt = 32 * MiB

    # Open connections to one upstream host (per proxy); further requests wait for one, up to
    # their pool timeout. Live.
    upstream_connections_per_host: PositiveInt = 64

    # Bytes queued for an HTTP/2 upstream that it has not read yet; more closes the connection
    # (ENHANCE_YOUR_CALM). Live for new connections.
    h2_outbound_buffer_bytes: PositiveInt = 4 * MiB

    # PING and SETTINGS frames an HTTP/2 upstream may send per second (each asks for an answer);
    # more closes the connection (ENHANCE_YOUR_CALM). Live for new connections.
    h2_control_frames_per_second: PositiveInt = 100

    # ---- Amp (the ampcode.com forward and the answers rewritten for Amp) ---------------------------

    # One SSE line, or one whole JSON answer, held to put back the model name Amp asked for; longer
    # ones pass unchanged. Live.
    amp_rewrite_bytes: PositiveInt = 2 * MiB


__all__ = ["KiB", "Limits", "MiB"]
