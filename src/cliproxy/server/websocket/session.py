"""One WebSocket connection: its client messages in order, each answered through the runner.

Every ``response.create`` (or ``response.append``) is one turn: the transcript makes it a full
Responses request, the route's ``build_call`` resolves the model and the accounts, and
``Runner.stream`` sends it under the same streaming rule as ``POST /v1/responses`` (failover before
content, the session's affinity, the pool's quota in ``codex.rate_limits``, one usage row per
turn). The attempts go through the session's ``SocketLane``: over the backend's own WebSocket on
an account that may use one (a follow-up as the client sent it), over HTTP elsewhere. Each event
goes out as one text frame; an error is one error frame and the socket stays open for the next
request.

A reader task takes the client's messages while a turn streams, so a client that hangs up is seen
at once and its turn cancelled (the runner closes the upstream request). It holds at most one
message ahead: a client that sends faster than turns end waits, it is never buffered without end.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from typing import Any

import orjson
from starlette.websockets import WebSocket

from cliproxy.dialects.base import Dialect
from cliproxy.dialects.openai_responses import is_codex_client
from cliproxy.dialects.responses_socket import NATIVE_SOCKET_DIALECT, SOCKET_DIALECT, error_event, split_frames
from cliproxy.errors import ProxyError, bad_request
from cliproxy.pool.affinity import session_id
from cliproxy.responses.transcript import APPEND, Transcript, holds_model_output
from cliproxy.runner import CallResult
from cliproxy.server.key_admission import key_of, reserve
from cliproxy.server.routes import build_call
from cliproxy.server.services import Services
from cliproxy.server.websocket import TOO_LARGE
from cliproxy.upstream.socket_lane import Incremental, SocketLane
from cliproxy.upstream.transport.websocket import SocketUnavailable

log = logging.getLogger(__name__)

CREATE = "response.create"
NATIVE_PATH = "/backend-api/codex/responses"


def socket_dialect(path: str, headers: Any) -> Dialect:
    """Codex CLI, or the ChatGPT backend's own path, is shown the ``codex.*`` events with the pool's quota."""
    return NATIVE_SOCKET_DIALECT if path == NATIVE_PATH or is_codex_client(headers) else SOCKET_DIALECT


def parse_message(message: dict[str, Any]) -> dict[str, Any]:
    """A client message as a request object; ProxyError 400/413 for anything else."""
    if message.get(TOO_LARGE):
        raise ProxyError(413, f"WebSocket message too large: this server accepts at most {message[TOO_LARGE]} "
                         "bytes per message (raise `limits.websocket-message-bytes` to allow more).",
                         code="message_too_large", type="invalid_request_error")
    data = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    try:
        request = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad_request("A WebSocket message must be a JSON object.") from None
    if not isinstance(request, dict) or request.get("type") not in (CREATE, APPEND):
        raise bad_request(f"Unsupported WebSocket message: expected `type` {CREATE!r} or {APPEND!r}.")
    return request


def incremental_of(request: dict[str, Any], transcript: Transcript) -> Incremental | None:
    """The follow-up as the client sent it (new items after ``previous_response_id``), for the upstream
    socket; None for a request that carries its whole conversation."""
    previous = request.get("previous_response_id")
    if request.get("type") == APPEND and previous is None:
        previous = transcript.response_id
    items = request.get("input")
    if not isinstance(previous, str) or not isinstance(items, list) or holds_model_output(items):
        return None
    return Incremental(items, previous)


def prewarm_events(request: dict[str, Any]) -> list[dict[str, Any]]:
    """``generate: false`` answered here: an empty completed response, no account asked, no quota spent."""
    response: dict[str, Any] = {"id": f"resp_prewarm_{uuid.uuid4().hex}", "object": "response", "status": "in_progress",
                "model": request.get("model"), "output": []}
    done = {**response, "status": "completed",
            "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}}
    return [{"type": "response.created", "sequence_number": 0, "response": response},
            {"type": "response.completed", "sequence_number": 1, "response": done}]


class SocketSession:
    """The turns of one accepted WebSocket, in order."""

    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self.websocket, self.services = websocket, services
        self.dialect = socket_dialect(websocket.url.path, websocket.headers)
        limits = services.holder.current.config.limits
        self.transcript = Transcript(limits.websocket_transcript_bytes)
        self.lane = SocketLane(services.upstream, lambda: services.holder.current.config)
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=1)
        self._turn: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            while (message := await self._inbox.get()) is not None:
                self._turn = asyncio.create_task(self._answer(message))
                await asyncio.wait({self._turn})  # a hang-up cancels the turn, not this loop
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self.lane.aclose()

    async def _read(self) -> None:
        """Client messages into the inbox; on a hang-up, the running turn is cancelled."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                if self._turn is not None and not self._turn.done():
                    self._turn.cancel()
                await self._inbox.put(None)
                return
            await self._inbox.put(dict(message))

    async def _answer(self, message: dict[str, Any]) -> None:
        try:
            request = parse_message(message)
            if request.get("generate") is False:
                await self._prewarm(request)
                return
            await self._turn_through_runner(request, message)
        except ProxyError as err:
            await self._send(orjson.dumps(error_event(err)))
        except OSError:  # the client went away while we wrote
            return

    async def _prewarm(self, request: dict[str, Any]) -> None:
        """Over the open upstream socket if there is one (the backend warms its cache), else the pair
        of events Codex CLI waits for, made here; a follow-up may name the prewarm's id."""
        body = self.transcript.expand(request)
        events = await self._prewarm_upstream(request, body) if self.lane.account is not None else None
        if events is None:
            events = [(event, orjson.dumps(event)) for event in prewarm_events(body)]
        for event, raw in events:
            if not str(event.get("type", "")).startswith("codex."):  # no quota of one account shown
                await self._send(raw)
        self.transcript.remember(body, events[-1][0].get("response") or {})

    async def _prewarm_upstream(self, request: dict[str, Any],
                                body: dict[str, Any]) -> list[tuple[dict[str, Any], bytes]] | None:
        """The backend's own answer to the prewarm on the session's socket; None if it failed there."""
        credential = self.lane.account
        assert credential is not None
        translated = self.dialect.translate_request(body, self.websocket.headers)
        call = build_call(self.websocket, self.dialect, translated, "")
        try:
            opened = await self.lane.send(credential, call.upstream_request(credential),
                                          incremental_of(request, self.transcript))
            events = [pair async for batch in opened.batches() for pair in batch]
            finished = opened.finished
        except (ProxyError, SocketUnavailable):
            finished = False
        if not finished:
            await self.lane.discard()
            return None
        return events

    async def _turn_through_runner(self, request: dict[str, Any], message: dict[str, Any]) -> None:
        incremental = incremental_of(request, self.transcript)
        body = self.transcript.expand(request)
        translated = self.dialect.translate_request(body, self.websocket.headers)
        session = session_id(self.websocket.headers, translated.body, translated.session_id) or ""
        completed: list[dict[str, Any]] = []
        call = replace(build_call(self.websocket, self.dialect, translated, session), on_completed=completed.append,
                       upstream=self.lane.turn(incremental))
        result = CallResult()
        raw = message.get("text") or message.get("bytes") or b""
        counters = self.services.counters
        reservation = await reserve(counters, key_of(self.websocket), call.request.body)  # a turn is a request
        trace = self.services.ops.observer.begin(self.websocket, call, result,
                                                 raw.encode() if isinstance(raw, str) else raw)
        if reservation is not None:
            trace.hold(counters, reservation)
        stream = self.services.runner.stream(call, result)
        try:
            first = await anext(stream, b"")
        except BaseException as exc:
            trace.abort(exc)
            raise
        trace.stream_started()
        finished = False
        try:
            chunk: bytes | None = first
            while chunk is not None:
                trace.chunk(chunk)
                for frame in split_frames(chunk):
                    await self._send(frame)
                chunk = await anext(stream, None)
            finished = True
        finally:
            trace.finish_stream(finished)
            await stream.aclose()
        if completed and result.error is None:
            self.transcript.remember(body, completed[-1])

    async def _send(self, frame: bytes) -> None:
        await self.websocket.send_text(frame.decode())


__all__ = ["SocketSession", "incremental_of", "parse_message", "prewarm_events", "socket_dialect"]
