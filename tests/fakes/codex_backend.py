"""A fake ChatGPT Codex backend that checks requests like the real one and streams real-format SSE.

Behaviour is scripted per access token (one account = one token): each request pops the next
``Reply`` queued for its token, else the default. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

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


class FakeCodex:
    """The fake's state: scripted replies per token, recorded requests, model catalogue."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.default = Reply()
        self.requests: list[Recorded] = []
        self.catalogue: dict[str, Any] | None = None  # GET /models answer; None → 404
        self.compact_reply: dict[str, Any] = {"id": "cmp_1", "object": "response.compaction",
                                              "output": [], "usage": {"input_tokens": 3}}
        self.app = Starlette(routes=[
            Route("/{prefix:path}/responses/compact", self.compact, methods=["POST"]),
            Route("/responses/compact", self.compact, methods=["POST"]),
            Route("/{prefix:path}/responses", self.responses, methods=["POST"]),
            Route("/responses", self.responses, methods=["POST"]),
            Route("/{prefix:path}/models", self.models, methods=["GET"]),
            Route("/models", self.models, methods=["GET"]),
        ])

    def script(self, token: str, *replies: Reply) -> None:
        self.queues[token].extend(replies)

    def inference_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/responses")]

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
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        return StreamingResponse(self._stream(reply), media_type="text/event-stream",
                                 headers={"x-codex-primary-used-percent": "12.5",
                                          "x-codex-primary-window-minutes": "300", **reply.headers})

    @staticmethod
    async def _stream(reply: Reply) -> AsyncIterator[bytes]:
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

    async def models(self, request: Request) -> Response:
        await self._record(request)
        if self.catalogue is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse(self.catalogue)
