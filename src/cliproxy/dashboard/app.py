"""The dashboard as one ASGI app: who may open it, the page and its assets, the API behind a session.

In front of everything: the dashboard exists only while the management API does (a secret is set;
otherwise every path is a 404, as for the API), and answers loopback clients only unless
``remote-management.allow-remote`` is on. The page and its assets need no login (the page shows the
login form); every ``/api/`` path but the login needs the session cookie, and every one but a few
read-only links (request logs, opened in a new tab) needs the CSRF token too, whatever its method.
A state change from another origin is refused before it is looked at. ``/api/m/…`` is the management
API itself, reached behind the session instead of a key, so the page and any other client see the
same answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from cliproxy.dashboard.api import DashboardAPI, StateView
from cliproxy.dashboard.session import COOKIE, CSRF_HEADER, Sessions, secret_digest
from cliproxy.server.gate import is_loopback
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.app import ManagementApp
from cliproxy.server.management.guard import ENV_PASSWORD

if TYPE_CHECKING:  # the type only: the observer module loads the runner, and with it the dialects
    from cliproxy.server.observe import Observer

STATIC = Path(__file__).parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
# The page loads nothing from elsewhere and may not be framed; scripts and styles are its own files.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY",
    "cache-control": "no-store",
}
PUBLIC_API = frozenset({"/api/login"})
# GET with the cookie alone: links opened in a new tab, and the page asking for its session's token.
COOKIE_ONLY = ("/api/m/request-log-by-id/", "/api/m/request-error-logs/", "/api/session")
SAFE_METHODS = frozenset({"GET", "HEAD"})


def _assets() -> dict[str, Path]:
    """Every file under ``static/`` by its path there: nothing else can be asked for."""
    return {path.relative_to(STATIC).as_posix(): path for path in STATIC.rglob("*") if path.is_file()}


def _same_origin(headers: Headers) -> bool:
    """A browser names the page that sent a request in ``Origin``; it must be this server."""
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc == headers.get("host", "")


class DashboardApp:
    def __init__(self, management: ManagementApp, observer: Observer, shared_state: StateView) -> None:
        self.management = management
        self.sessions = Sessions()
        self.api = DashboardAPI(management.ctx, observer, management.guard, self.sessions, self._secret,
                                shared_state)
        self.assets = _assets()
        self.router = Router(routes=[
            Route("/", self._page, methods=["GET"]),
            Route("/management.html", self._to_page, methods=["GET"]),
            Route("/static/{name:path}", self._asset, methods=["GET"]),
            *self.api.routes(),
            Mount("/api/m", app=self.management.dispatch),
        ], default=self._not_found)

    def _secret(self) -> str:
        guard = self.management.guard
        return secret_digest(self.management.ctx.config.remote_management.secret_key,
                             guard.environ.get(ENV_PASSWORD, ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.management.ctx.config
        if scope["type"] != "http" or not self.management.guard.enabled(config):
            await self._not_found(scope, receive, send)
            return
        client = (scope.get("client") or ("", 0))[0]
        if not is_loopback(client) and not config.remote_management.allow_remote:
            await PlainTextResponse("The dashboard answers this machine only (remote-management.allow-remote).",
                                    403)(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.router(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        """Why an API call may not go on (no session, no CSRF token, another origin), or None."""
        path = self._route_path(scope)
        if not path.startswith("/api/"):
            return None
        headers, method = Headers(scope=scope), scope["method"]
        if method not in SAFE_METHODS and not _same_origin(headers):
            return JSONResponse({"error": "refused: the request came from another site"}, status_code=403)
        if path in PUBLIC_API:
            return None
        session = self.sessions.find(Request(scope).cookies.get(COOKIE), self._secret())
        if session is None:
            return JSONResponse({"error": "log in first"}, status_code=401)
        scope["dashboard.session"] = session
        if method in SAFE_METHODS and path.startswith(COOKIE_ONLY):
            return None
        if not session.allows(headers.get(CSRF_HEADER)):
            return JSONResponse({"error": "refused: the CSRF token is missing or wrong; reload the page"},
                                status_code=403)
        return None

    @staticmethod
    def _route_path(scope: Scope) -> str:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        return path[len(root):] if root and path.startswith(root) else path

    async def _page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type=TYPES[".html"], headers=SECURITY_HEADERS)

    async def _to_page(self, request: Request) -> Response:
        return RedirectResponse("/dashboard/", status_code=307)

    async def _asset(self, request: Request) -> Response:
        path = self.assets.get(request.path_params["name"])
        if path is None:
            return PlainTextResponse("Not Found", 404)
        return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"),
                            headers=SECURITY_HEADERS)

    @staticmethod
    async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("Not Found", 404)(scope, receive, send)


__all__ = ["DashboardApp"]
