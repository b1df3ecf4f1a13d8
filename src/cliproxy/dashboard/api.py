"""The dashboard's own JSON endpoints, for what the management API has no answer to.

Logging in (the management secret, checked by the management API's own guard, so wrong secrets here
count toward the same ban), the session (its CSRF token for a page that reloads), logging out, the
live requests, the shared state with the live instances (what ``cliproxy status`` shows), and checking a
config edit before it is saved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.dashboard import config_check
from cliproxy.dashboard.live import live_view
from cliproxy.dashboard.session import COOKIE, Session, Sessions, cookie
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import ManagementContext
from cliproxy.server.management.guard import Denied, Guard

if TYPE_CHECKING:  # the type only: the observer module loads the runner, and with it the dialects
    from cliproxy.server.observe import Observer

MAX_SECRET = 1024
DEFAULT_FINISHED = 50
# The state backend and its live instances, as ``cliproxy status`` gets them from the server.
StateView = Callable[[], Awaitable[dict[str, Any]]]


def _error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    return body if isinstance(body, dict) else {}


class DashboardAPI:
    """The endpoints; ``secret`` names the management secret in use (a digest), ``session`` the
    request's session (set by the app's check before any of these but ``login`` run), ``shared_state``
    the state backend's view (the server's, so the page and ``cliproxy status`` say the same)."""

    def __init__(self, ctx: ManagementContext, observer: Observer, guard: Guard, sessions: Sessions,
                 secret: Callable[[], str], shared_state: StateView) -> None:
        self.ctx, self.observer, self.guard, self.sessions, self.secret = ctx, observer, guard, sessions, secret
        self.shared_state = shared_state

    async def login(self, request: Request) -> Response:
        presented = (await _json(request)).get("secret")
        if not isinstance(presented, str) or not presented or len(presented) > MAX_SECRET:
            return _error("enter the management secret", 400)
        client = request.client.host if request.client else ""
        try:
            await self.guard.check(client, {"authorization": f"Bearer {presented}"}, self.ctx.config)
        except Denied as denied:
            return _error("wrong secret" if denied.status == 401 else denied.message, denied.status)
        token, session = self.sessions.open(self.secret())
        response = JSONResponse({"csrf": session.csrf})
        response.headers["set-cookie"] = cookie(token, secure=request.url.scheme == "https")
        return response

    async def logout(self, request: Request) -> Response:
        self.sessions.close(request.cookies.get(COOKIE))
        response = JSONResponse({"status": "ok"})
        response.headers["set-cookie"] = cookie("", secure=request.url.scheme == "https", max_age=0)
        return response

    async def session(self, request: Request) -> Response:
        current: Session = request.scope["dashboard.session"]
        return JSONResponse({"csrf": current.csrf})

    async def live(self, request: Request) -> Response:
        try:
            limit = max(1, int(request.query_params.get("limit") or DEFAULT_FINISHED))
        except ValueError:
            return _error("limit must be a number", 400)
        return JSONResponse(live_view(self.observer, limit))

    async def state(self, request: Request) -> Response:
        """The backend, whether it answers (and why not), queued writes, the live instances; with the
        server's clock, so the page tells how long ago each started whatever the browser's clock says.
        Redis is named by host and port at most: its URL, which may hold a password, is never in it."""
        return JSONResponse({**await self.shared_state(), "now": time.time()})

    async def config_check(self, request: Request) -> Response:
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            return _error("the config must be UTF-8 text", 400)
        return JSONResponse(await asyncio.to_thread(config_check.check, self.ctx, text))

    def routes(self) -> list[Route]:
        return [Route("/api/login", self.login, methods=["POST"]),
                Route("/api/logout", self.logout, methods=["POST"]),
                Route("/api/session", self.session, methods=["GET"]),
                Route("/api/live", self.live, methods=["GET"]),
                Route("/api/state", self.state, methods=["GET"]),
                Route("/api/config-check", self.config_check, methods=["POST"])]


__all__ = ["DashboardAPI"]
