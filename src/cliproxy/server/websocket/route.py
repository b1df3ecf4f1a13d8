"""The WebSocket routes: ``/v1/responses`` and ``/backend-api/codex/responses`` (``GET`` with an upgrade).

The gate in front has already refused a wrong client key, Host or Origin with an HTTP answer, so a
socket that reaches here is accepted. Codex CLI reads its quota from the handshake's answer headers
as it does from an HTTP answer's, so they carry the pool's view.
"""

from __future__ import annotations

import time

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from cliproxy.dialects.responses_socket import NATIVE_SOCKET_DIALECT
from cliproxy.server.services import Services
from cliproxy.server.websocket.session import NATIVE_PATH, SocketSession


async def responses_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    session = SocketSession(websocket, services)
    headers = None
    if session.dialect is NATIVE_SOCKET_DIALECT:
        headers = list(services.runner.pool.recent_view().headers(time.time()).items())
    await websocket.accept(headers=[(name.encode(), value.encode()) for name, value in headers or ()])
    await session.serve()


WEBSOCKET_ROUTES = [
    WebSocketRoute("/v1/responses", responses_socket),
    WebSocketRoute(NATIVE_PATH, responses_socket),
]

__all__ = ["WEBSOCKET_ROUTES", "responses_socket"]
