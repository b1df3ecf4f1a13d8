"""A fake ChatGPT Codex backend that checks requests like the real one and streams real-format SSE.

Behaviour is scripted per access token (one account = one token): each request pops the next
``Reply`` queued for its token, else the default. Every request is recorded for assertions.

``/backend-api/codex/responses`` also speaks the backend's WebSocket, as chatgpt.com does for Codex
CLI: each ``response.create`` text frame pops the next ``Reply`` of the handshake's token (the same
queue as HTTP) and is answered with its events as JSON text frames, a non-200 ``Reply`` as one
error frame, ``cut_after`` as the socket closed mid-answer. Every frame is recorded like a request
(``method == "WEBSOCKET"``, the handshake's headers, ``connection`` numbering the sockets); a
handshake can be refused per token (``refuse_socket``) and a follow-up naming an answer the same
socket did not give is refused as the backend does.

It also plays the ChatGPT backend next to the Codex API: ``GET /backend-api/wham/usage`` (scripted
per token with ``script_usage``) and any other ``/backend-api/…`` path (``backend_reply``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import codex_events

# Fields the real backend rejects with {"detail":"Unsupported parameter: …"}.
FORBIDDEN_FIELDS = ("temperature", "top_p", "max_output_tokens", "max_tokens", "max_completion_tokens",
                    "truncation", "user", "context_management", "previous_response_id", "stop", "n", "seed",
                    "stream_options", "safety_identifier", "prompt_cache_retention")


@dataclass
class Reply:
    """What the fake answers one request with."""

    events: list[dict[str, Any]] = field(default_factory=codex_events.text_stream)
    status: int = 200
    body: Any = None  # JSON body for an error status
    headers: dict[str, str] = field(default_factory=dict)
    first_delay: float = 0.0  # seconds before the first event
    delay: float = 0.0  # seconds between events
    cut_after: int | None = None  # close the connection after this many events
    raw_lines: list[bytes] | None = None  # send these data payloads verbatim (e.g. invalid JSON)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    http_version: str
    at: float = field(default_factory=time.monotonic)  # when it arrived
    connection: int = 0  # WebSocket frames: which socket (1, 2, …) carried it
    size: int = 0  # WebSocket frames: bytes as received


def usage_body(short: float = 0, long: float = 0, plan: str = "plus", reset_at: int = 1_790_000_000) -> dict[str, Any]:
    """A ``/wham/usage`` answer in the backend's shape."""
    def window(used: float, seconds: int) -> dict[str, Any]:
        return {"used_percent": used, "limit_window_seconds": seconds, "reset_after_seconds": 1000,
                "reset_at": reset_at + seconds}
    return {"user_id": "user-x", "account_id": "acc-x", "email": "x@example.com", "plan_type": plan,
            "rate_limit": {"allowed": True, "limit_reached": False, "primary_window": window(short, 18000),
                           "secondary_window": window(long, 604800)},
            "additional_rate_limits": [], "credits": {"has_credits": False, "unlimited": False, "balance": "0"}}


class FakeCodex:
    """The fake's state: scripted replies per token, recorded requests, model catalogue."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.default = Reply()
        self.requests: list[Recorded] = []
        self.catalogue: dict[str, Any] | None = None  # GET /models answer; None → 404
        self.compact_reply: dict[str, Any] = {"id": "cmp_1", "object": "response.compaction",
                                              "output": [], "usage": {"input_tokens": 3}}
        self.usage_queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.usage_default = Reply(body=usage_body())
        self.backend_reply = Reply(body={"ok": True})  # any other /backend-api/… path
        self.stream_ends: list[str] = []  # per inference stream: "completed" or "abandoned"
        self.socket_refusals: dict[str, deque[Reply]] = defaultdict(deque)  # per token: handshakes to refuse
        self.sockets_opened = 0
        self.handshakes: list[tuple[str, int]] = []  # (token, the status answered: 101 or a refusal)
        self.app = Starlette(routes=[
            Route("/backend-api/wham/usage", self.wham_usage, methods=["GET"]),
            Route("/{prefix:path}/responses/compact", self.compact, methods=["POST"]),
            Route("/responses/compact", self.compact, methods=["POST"]),
            Route("/{prefix:path}/responses", self.responses, methods=["POST"]),
            WebSocketRoute("/{prefix:path}/responses", self.responses_socket),
            Route("/responses", self.responses, methods=["POST"]),
            Route("/{prefix:path}/models", self.models, methods=["GET"]),
            Route("/models", self.models, methods=["GET"]),
            Route("/backend-api/{rest:path}", self.chatgpt_backend, methods=["GET", "POST"]),
        ])

    def script(self, token: str, *replies: Reply) -> None:
        self.queues[token].extend(replies)

    def script_usage(self, token: str, *replies: Reply) -> None:
        self.usage_queues[token].extend(replies)

    def usage_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/backend-api/wham/usage"]

    def inference_requests(self) -> list[Recorded]:
        """Both ways in: HTTP POSTs and WebSocket frames."""
        return [r for r in self.requests if r.path.endswith("/responses")]

    def http_requests(self) -> list[Recorded]:
        return [r for r in self.inference_requests() if r.method == "POST"]

    def socket_frames(self) -> list[Recorded]:
        return [r for r in self.inference_requests() if r.method == "WEBSOCKET"]

    def refuse_socket(self, token: str, *replies: Reply) -> None:
        """The next handshakes with ``token`` are answered with these HTTP replies instead of an upgrade."""
        self.socket_refusals[token].extend(replies)

    def _next(self, token: str) -> Reply:
        queue = self.queues.get(token)
        return queue.popleft() if queue else self.default

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in request.headers.items()}
        record = Recorded(request.method, request.url.path, headers, body,
                          request.scope.get("http_version", "1.1"))
        self.requests.append(record)
        return record

    @staticmethod
    def _check(record: Recorded, accept: str) -> Response | None:
        """The checks the real backend makes: auth, content type, accept, forbidden fields."""
        if not record.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        if record.headers.get("content-type") != "application/json":
            return JSONResponse({"detail": "Unsupported Media Type"}, status_code=415)
        if record.headers.get("accept") != accept:
            return JSONResponse({"detail": f"Accept must be {accept}"}, status_code=400)
        if not isinstance(record.body, dict):
            return JSONResponse({"detail": "Invalid JSON body"}, status_code=400)
        for name in FORBIDDEN_FIELDS:
            if name in record.body:
                return JSONResponse({"detail": f"Unsupported parameter: {name}"}, status_code=400)
        return None

    async def responses(self, request: Request) -> Response:
        record = await self._record(request)
        rejected = self._check(record, "text/event-stream")
        if rejected is not None:
            return rejected
        if record.body.get("stream") is not True or record.body.get("store") is not False:
            return JSONResponse({"detail": "stream must be true and store false"}, status_code=400)
        reply = self._next(record.headers["authorization"][7:])
        if reply.status != 200:
            return self._answer(reply)
        return StreamingResponse(self._stream(reply), media_type="text/event-stream",
                                 headers={"x-codex-primary-used-percent": "12.5",
                                          "x-codex-primary-window-minutes": "300", **reply.headers})

    async def responses_socket(self, websocket: WebSocket) -> None:
        """The backend's WebSocket: a scripted refusal, or an upgrade answered frame by frame."""
        token = websocket.headers.get("authorization", "")[7:]
        refusals = self.socket_refusals.get(token)
        if not websocket.headers.get("authorization", "").startswith("Bearer ") or refusals:
            reply = refusals.popleft() if refusals else Reply(status=401, body={"detail": "Unauthorized"})
            self.handshakes.append((token, reply.status))
            await websocket.send_denial_response(self._answer(reply))
            return
        self.handshakes.append((token, 101))
        await websocket.accept(headers=[(b"x-codex-turn-state", b"ts-from-backend"),
                                        (b"x-codex-primary-used-percent", b"12.5")])
        self.sockets_opened += 1
        await _SocketPeer(self, websocket, self.sockets_opened).serve()

    async def _stream(self, reply: Reply) -> AsyncIterator[bytes]:
        """The scripted events; ``stream_ends`` learns whether the reader took them all."""
        end = "abandoned"
        try:
            async for frame in self._frames(reply):
                yield frame
            end = "completed"
        finally:
            self.stream_ends.append(end)

    @staticmethod
    async def _frames(reply: Reply) -> AsyncIterator[bytes]:
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        if reply.raw_lines is not None:
            for line in reply.raw_lines:
                yield b"data: " + line + b"\n\n"
            return
        for count, event in enumerate(reply.events):
            if reply.cut_after is not None and count >= reply.cut_after:
                raise ConnectionResetError("fake upstream cut the stream")
            if count and reply.delay:
                await asyncio.sleep(reply.delay)
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

    async def compact(self, request: Request) -> Response:
        record = await self._record(request)
        rejected = self._check(record, "application/json")
        if rejected is not None:
            return rejected
        if "stream" in record.body:
            return JSONResponse({"detail": "Unsupported parameter: stream"}, status_code=400)
        return JSONResponse(self.compact_reply)

    @staticmethod
    def _answer(reply: Reply) -> Response:
        """``reply.body`` as JSON, or verbatim when it is bytes (an HTML page is sent as HTML)."""
        if isinstance(reply.body, bytes):
            html = reply.body.lstrip().lower().startswith((b"<!doctype", b"<html"))
            return Response(reply.body, status_code=reply.status, headers=reply.headers,
                            media_type="text/html" if html else "application/json")
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    async def wham_usage(self, request: Request) -> Response:
        record = await self._record(request)
        auth = record.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        queue = self.usage_queues.get(auth[7:])
        return self._answer(queue.popleft() if queue else self.usage_default)

    async def chatgpt_backend(self, request: Request) -> Response:
        record = await self._record(request)
        if not record.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        return self._answer(self.backend_reply)

    async def models(self, request: Request) -> Response:
        await self._record(request)
        if self.catalogue is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse(self.catalogue)


class _SocketPeer:
    """One accepted socket of the fake: its handshake, and the answer a follow-up may name."""

    def __init__(self, fake: FakeCodex, websocket: WebSocket, number: int) -> None:
        self.fake, self.websocket, self.number = fake, websocket, number
        self.headers = {k.lower(): v for k, v in websocket.headers.items()}
        self.token = self.headers.get("authorization", "")[7:]
        self.last_response_id: str | None = None

    async def serve(self) -> None:
        while True:
            try:
                text = await self.websocket.receive_text()
            except WebSocketDisconnect:
                return
            body = json.loads(text)
            self.fake.requests.append(Recorded("WEBSOCKET", self.websocket.url.path, self.headers, body,
                                               "websocket", connection=self.number, size=len(text.encode())))
            if not await self.answer(body):
                return

    async def answer(self, body: dict[str, Any]) -> bool:
        """False once the socket is closed (a scripted cut)."""
        previous = body.get("previous_response_id")
        if body.get("type") != "response.create":
            return await self.error(400, {"message": "expected response.create", "type": "invalid_request_error"})
        if previous is not None and previous != self.last_response_id:
            return await self.error(400, {"message": f"Previous response with id '{previous}' not found.",
                                          "type": "invalid_request_error", "code": "previous_response_not_found"})
        reply = self.fake._next(self.token)
        if reply.status != 200:
            detail = reply.body if isinstance(reply.body, dict) else {}
            return await self.error(reply.status, detail.get("error") or {"message": str(detail.get("detail"))})
        return await self.events(reply)

    async def events(self, reply: Reply) -> bool:
        end = "abandoned"
        try:
            async for frame in FakeCodex._frames(reply):
                event = json.loads(frame.split(b"data: ", 1)[1])
                if event.get("type") in ("response.completed", "response.incomplete"):
                    self.last_response_id = event["response"]["id"]
                await self.websocket.send_text(json.dumps(event))
            end = "completed"
        except ConnectionResetError:
            await self.websocket.close(1011)
            return False
        finally:
            self.fake.stream_ends.append(end)
        return True

    async def error(self, status: int, error: dict[str, Any]) -> bool:
        await self.websocket.send_text(json.dumps({"type": "error", "status": status, "error": error}))
        return True
