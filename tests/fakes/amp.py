"""A fake ampcode.com: records every request and answers as Amp's service does, or as scripted.

It answers classic Amp's control plane (``POST /api/internal?<rpc>``) the way a working run needs it,
and its provider routes with a real-format Anthropic or Responses stream whose model is the one asked
for (so a test can tell a forwarded answer from one served and rewritten by the proxy). A test queues
``AmpReply`` objects to script the next answers: a status and body, gzip with or without
``Content-Encoding``, SSE chunks with pauses, a connection cut after some chunks.

Run alone (``python -m tests.fakes.amp --port 8999``) it serves until stopped and prints each request,
for trying a real Amp client through the proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.serving import serve_in_thread

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class AmpReply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b'{"ok":true,"result":{}}'
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    chunks: list[bytes] | None = None  # streamed one by one instead of ``body``
    pause: float = 0.0  # seconds before each chunk
    cut: bool = False  # break the connection after the chunks instead of ending the body
    first_delay: float = 0.0  # seconds before the answer starts


@dataclass
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: str  # raw, as on the wire
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def sse(events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


def anthropic_stream(model: str, text: str = "Hello from ampcode.com") -> list[bytes]:
    message: dict[str, Any] = {"id": "msg_amp", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 0}}
    return sse([("message_start", {"type": "message_start", "message": message}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": text}}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                   "usage": {"output_tokens": 5}}),
                ("message_stop", {"type": "message_stop"})])


def responses_stream(model: str, text: str = "Hello from ampcode.com") -> list[bytes]:
    item = {"id": "msg_amp", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}
    base = {"id": "resp_amp", "object": "response", "model": model, "status": "in_progress", "output": []}
    done = {**base, "status": "completed", "output": [item],
            "usage": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}}
    return [f"data: {json.dumps(event)}\n\n".encode() for event in (
        {"type": "response.created", "response": base},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "msg_amp",
         "delta": text},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done})]


def control_answer(rpc: str) -> dict[str, Any]:
    """What Amp's service answers the RPCs a classic Amp run makes (the parts a run needs)."""
    if rpc == "getUserInfo":
        return {"ok": True, "result": {"id": "user-amp", "email": "amp-user@example.com", "emailVerified": True,
                                       "team": None, "features": []}}
    if rpc == "getThread":
        return {"ok": False, "error": {"code": "thread-not-found"}}
    if rpc == "loadPlugins":
        return {"ok": True, "result": []}
    return {"ok": True, "result": {}}


class FakeAmp:
    """The fake's state: requests seen, replies queued."""

    def __init__(self, verbose: bool = False) -> None:
        self.seen: list[Seen] = []
        self.replies: deque[AmpReply] = deque()
        self.chunks_sent = 0  # streamed chunks handed to the server so far
        self.streams_closed = 0  # streamed answers that ended, read whole or abandoned
        self.verbose = verbose
        self.url = ""
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=METHODS)])

    def script(self, *replies: AmpReply) -> None:
        self.replies.extend(replies)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    async def handle(self, request: Request) -> Response:
        seen = Seen(request.method, request.url.path, request.scope["query_string"].decode("latin-1"),
                    {k.lower(): v for k, v in request.headers.items()}, await request.body())
        self.seen.append(seen)
        if self.verbose:
            print(f"ampcode.com fake: {seen.method} {seen.path}?{seen.query}", flush=True)
        reply = self.replies.popleft() if self.replies else self._default(seen)
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        if reply.chunks is None:
            return Response(reply.body, status_code=reply.status, headers=reply.headers)
        return StreamingResponse(self._stream(reply), status_code=reply.status, headers=reply.headers)

    async def _stream(self, reply: AmpReply) -> AsyncIterator[bytes]:
        try:
            for chunk in reply.chunks or ():
                if reply.pause:
                    await asyncio.sleep(reply.pause)
                self.chunks_sent += 1
                yield chunk
            if reply.cut:
                raise ConnectionResetError("the fake cuts the connection")
        finally:
            self.streams_closed += 1

    @staticmethod
    def _default(seen: Seen) -> AmpReply:
        event_stream = {"content-type": "text/event-stream"}
        if seen.path.endswith("/v1/messages"):
            return AmpReply(chunks=anthropic_stream(seen.json().get("model", "")), headers=event_stream)
        if seen.path.endswith("/responses"):
            return AmpReply(chunks=responses_stream(seen.json().get("model", "")), headers=event_stream)
        if seen.path == "/api/internal":
            rpc = seen.query.split("&", 1)[0].split("=", 1)[0]
            return AmpReply(body=json.dumps(control_answer(rpc)).encode())
        return AmpReply(body=b'{"ok":true}')


@contextmanager
def running_amp(verbose: bool = False) -> Iterator[FakeAmp]:
    """A ``FakeAmp`` on a loopback port; its base URL is ``fake.url``."""
    fake = FakeAmp(verbose)
    with serve_in_thread(fake.app) as url:
        fake.url = url
        yield fake


def main() -> None:
    parser = argparse.ArgumentParser(description="a fake ampcode.com that prints what it receives")
    parser.add_argument("--port", type=int, default=8999)
    port = parser.parse_args().port
    import uvicorn

    fake = FakeAmp(verbose=True)
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()

__all__ = ["AmpReply", "FakeAmp", "Seen", "anthropic_stream", "control_answer", "responses_stream", "running_amp"]
