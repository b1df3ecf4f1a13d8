"""A fake Codex backend for the socket-session row: ``/backend-api/codex/responses`` over SSE and over
the backend's WebSocket, each answer one tool call, and the bytes of every request it was sent.

Every answer is ``exec_command`` asking for the next file, so a session's transcript grows by the
tool output the client sends back each turn. On a socket a ``previous_response_id`` must name the
answer last given on that socket, as the real backend requires; anything else is an error frame.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PATH = "/backend-api/codex/responses"


def answer_events(number: int, model: str) -> list[dict[str, Any]]:
    """One turn's answer: a function call, then ``response.completed`` with its id."""
    response_id = f"resp_{number}"
    item = {"id": f"fc_{number}", "type": "function_call", "status": "completed", "call_id": f"call_{number}",
            "name": "exec_command", "arguments": orjson.dumps({"cmd": f"cat src/file_{number}.py"}).decode()}
    head = {"id": response_id, "object": "response", "status": "in_progress", "model": model, "output": []}
    usage = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
    return [{"type": "response.created", "response": head},
            {"type": "response.output_item.added", "output_index": 0, "item": {**item, "status": "in_progress"}},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": {**head, "status": "completed", "output": [item],
                                                        "usage": usage}}]


class SocketFake:
    """The fake's state: bytes received per request, in order, tagged with the way they came."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int]] = []  # ("http" | "websocket", bytes)
        self._answers = 0
        self.app = Starlette(routes=[Route(PATH, self.http, methods=["POST"]), WebSocketRoute(PATH, self.socket)])

    def _next(self, model: str) -> list[dict[str, Any]]:
        self._answers += 1
        return answer_events(self._answers, model)

    async def http(self, request: Request) -> Response:
        raw = await request.body()
        self.received.append(("http", len(raw)))
        body = orjson.loads(raw)
        events = self._next(str(body.get("model")))
        data = b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)
        return Response(data, media_type="text/event-stream")

    async def socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        last: str | None = None
        while True:
            try:
                raw = await websocket.receive_text()
            except WebSocketDisconnect:
                return
            self.received.append(("websocket", len(raw.encode())))
            body = orjson.loads(raw)
            previous = body.get("previous_response_id")
            if previous is not None and previous != last:
                await websocket.send_text(orjson.dumps({"type": "error", "status": 400, "error": {
                    "code": "previous_response_not_found", "message": "not found"}}).decode())
                continue
            for event in self._next(str(body.get("model"))):
                await websocket.send_text(orjson.dumps(event).decode())
            last = f"resp_{self._answers}"


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """``app`` on a loopback port (yielded) in a thread of this process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


__all__ = ["PATH", "SocketFake", "answer_events", "serving"]
