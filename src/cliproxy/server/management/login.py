"""Adding an account from the management API: the browser login, driven over HTTP.

``GET /codex-auth-url`` starts a login and answers its URL and state; the browser comes back either
through ``/codex/callback`` on this server (``?is_webui=true`` starts a loopback forwarder on the
Codex redirect port, since the issuer only redirects there) or the user pastes the redirect URL into
``POST /oauth-callback``. ``GET /get-auth-status`` polls. The exchange and saving are the CLI's own
(``auth.login.BrowserLogin``); a saved account reaches the pool through the reloader.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from cliproxy.auth.callback import parse_callback_input
from cliproxy.auth.errors import AuthenticationError, AuthError, OAuthError
from cliproxy.auth.login import BrowserLogin, LoginContext, SavedAccount, issuer_client
from cliproxy.auth.oauth import DEFAULT_CALLBACK_PORT, Endpoints, redirect_uri_for
from cliproxy.auth.stores import credential_store
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, endpoint, json_body, ok
from cliproxy.server.management.device import DeviceLogins
from cliproxy.server.management.device import routes as device_routes

log = logging.getLogger(__name__)

SESSION_TTL = 600.0  # a pending login is forgotten after 10 minutes
CALLBACK_WAIT = 300.0  # and fails after 5 minutes without a code
EXCHANGE_WAIT = 60.0
_STATE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
PROVIDERS = ("codex", "openai")


@dataclass
class _Session:
    attempt: BrowserLogin
    created: float
    status: str = "wait"  # wait | error
    error: str = ""
    submitted: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


def _failure_message(exc: BaseException) -> str:
    """CPA's session error strings, word for word: management UIs written for CPA show them."""
    if isinstance(exc, TimeoutError):
        return "Timeout waiting for OAuth callback"
    if isinstance(exc, OAuthError):
        return "Bad Request"
    if isinstance(exc, AuthenticationError) and exc.kind == "invalid_state":
        return "State code error"
    if isinstance(exc, AuthError):
        return f"Failed to exchange authorization code for tokens: {exc.friendly}"
    return "Failed to save authentication tokens"


def _page(title: str, message: str, status: int = 200) -> HTMLResponse:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            "<body style='font-family:system-ui,sans-serif;text-align:center;margin-top:15vh'>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
            "<script>setTimeout(function(){window.close()},5000)</script></body></html>")
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


class Logins:
    """Pending logins by state, and the optional forwarder on the Codex redirect port."""

    def __init__(self, ctx: ManagementContext, *, callback_port: int = DEFAULT_CALLBACK_PORT,
                 clock: Any = time.monotonic) -> None:
        self.ctx = ctx
        self.callback_port = callback_port
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._http: httpx.AsyncClient | None = None
        self._http_for: tuple[str, str, bool] = ("", "", False)  # the way out self._http was built for
        self._retired: list[httpx.AsyncClient] = []  # clients of an earlier way out, closed at the end
        self._forwarder: asyncio.Server | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self.devices = DeviceLogins(ctx, self._context, clock=clock)  # the device-code flow, same issuer client

    async def aclose(self) -> None:
        await self.devices.aclose()
        for session in self._sessions.values():
            if session.watcher is not None:
                session.watcher.cancel()
        self._sessions.clear()
        await self._stop_forwarder()
        for client in [*self._retired, *([self._http] if self._http is not None else [])]:
            await client.aclose()
        self._http, self._retired = None, []

    def _context(self) -> LoginContext:
        config = self.ctx.config
        way_out = (config.proxy_url, config.upstream.ca_file, config.upstream.system_trust)
        if self._http is None or way_out != self._http_for:  # a reloaded proxy-url or trust
            if self._http is not None:
                self._retired.append(self._http)
            self._http, self._http_for = issuer_client(config), way_out
        return LoginContext(endpoints=Endpoints(config.oauth_issuer), store=credential_store(config),
                            http=self._http)

    def _purge(self) -> None:
        now = self._clock()
        for state in [s for s, session in self._sessions.items() if now - session.created > SESSION_TTL]:
            session = self._sessions.pop(state)
            if session.watcher is not None:
                session.watcher.cancel()

    # ---- endpoints ---------------------------------------------------------------------------------

    async def auth_url(self, request: Request) -> Response:
        self._purge()
        if request.query_params.get("is_webui", "").lower() in ("true", "1"):
            try:
                await self._start_forwarder(request)
            except OSError:
                return JSONResponse({"error": "failed to start callback server"}, status_code=500)
        attempt = BrowserLogin(self._context(), redirect_uri_for(self.callback_port))
        session = _Session(attempt=attempt, created=self._clock())
        session.watcher = asyncio.create_task(self._watch(attempt.state, session))
        self._sessions[attempt.state] = session
        return JSONResponse({"status": "ok", "url": attempt.url, "state": attempt.state})

    async def status(self, request: Request) -> Response:
        session = self._sessions.get(request.query_params.get("state", ""))
        if session is None:
            return JSONResponse({"status": "ok"})
        if session.status == "error":
            return JSONResponse({"status": "error", "error": session.error})
        return JSONResponse({"status": "wait"})

    async def submit(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise BadBody()
        state, code, error = self._pasted(body)
        if not _STATE.match(state) or ".." in state:
            raise BadBody("invalid state")
        if not code and not error:
            raise BadBody("missing code or error")
        session = self._sessions.get(state)
        if session is None:
            raise BadBody("unknown or expired state", 404)
        if str(body.get("provider") or "codex").lower() not in PROVIDERS:
            raise BadBody("provider does not match state")
        if session.status != "wait" or session.submitted:
            raise BadBody("oauth flow is not pending", 409)
        self._deliver(session, code, error, str(body.get("error_description") or ""))
        return ok()

    @staticmethod
    def _pasted(body: dict[str, Any]) -> tuple[str, str, str]:
        redirect = body.get("redirect_url")
        if isinstance(redirect, str) and redirect.strip():
            try:
                params = parse_callback_input(redirect)
            except AuthError as exc:
                raise BadBody(str(exc)) from None
            if params is not None:
                return params.state or str(body.get("state") or ""), params.code, params.error
        return str(body.get("state") or ""), str(body.get("code") or ""), str(body.get("error") or "")

    async def callback(self, request: Request) -> Response:
        """``GET /codex/callback``: where the browser lands (directly or through the forwarder)."""
        query = request.query_params
        session = self._sessions.get(query.get("state", ""))
        if session is None or session.status != "wait" or session.submitted:
            return _page("Login not found", "This login is unknown, finished or expired. Start it again.", 400)
        error = query.get("error") or query.get("error_description") or ""
        if error or not query.get("code"):
            self._deliver(session, "", error or "no_code", query.get("error_description", ""))
            return _page("Authentication failed", "The sign-in did not complete. You can close this window.", 400)
        session.submitted = True
        try:
            await asyncio.wait_for(session.attempt.finish(query["code"]), EXCHANGE_WAIT)
        except Exception as exc:
            return _page("Authentication failed", _failure_message(exc), 400)
        return _page("Authentication successful!", "You can close this window; it closes in 5 seconds.")

    # ---- the session's life ----------------------------------------------------------------------

    def _deliver(self, session: _Session, code: str, error: str, description: str) -> None:
        session.submitted = True
        if error:
            session.attempt.fail(OAuthError(error, description))
            return

        async def finish() -> None:
            with contextlib.suppress(Exception):
                await session.attempt.finish(code)

        task = asyncio.ensure_future(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, state: str, session: _Session) -> None:
        try:
            saved: SavedAccount = await asyncio.wait_for(asyncio.shield(session.attempt.outcome), CALLBACK_WAIT)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            session.status, session.error = "error", _failure_message(exc)
            log.warning("management login failed: %s", session.error)
            await self._maybe_stop_forwarder()
            return
        log.info("management login: account %s saved", saved.email or saved.name)
        await self.ctx.reloader.reload(config=False, accounts=[saved.name], reason="login")
        self._sessions.pop(state, None)
        await self._maybe_stop_forwarder()

    # ---- the forwarder (is_webui) ------------------------------------------------------------------

    async def _start_forwarder(self, request: Request) -> None:
        if self._forwarder is not None:
            return
        server = request.scope.get("server") or ("127.0.0.1", request.url.port or 80)
        target = f"{request.url.scheme}://127.0.0.1:{server[1]}/codex/callback"

        async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
                path = head.split(b" ", 2)[1].decode("latin-1")
                query = path.partition("?")[2]
                location = target + (f"?{query}" if query else "")
                writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nCache-Control: no-store\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n".encode("latin-1"))
                await writer.drain()
            except (TimeoutError, ConnectionError, IndexError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        self._forwarder = await asyncio.start_server(redirect, "127.0.0.1", self.callback_port)

    async def _maybe_stop_forwarder(self) -> None:
        if not any(s.status == "wait" for s in self._sessions.values() if not s.submitted):
            await self._stop_forwarder()

    async def _stop_forwarder(self) -> None:
        if self._forwarder is not None:
            self._forwarder.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._forwarder.wait_closed(), 2.0)
            self._forwarder = None


def routes(logins: Logins) -> list[Route]:
    """The management routes; ``/codex/callback`` is mounted on the main app (no key: the state is one)."""
    return [
        Route("/codex-auth-url", endpoint(logins.auth_url), methods=["GET"]),
        Route("/oauth-callback", endpoint(logins.submit), methods=["POST"]),
        Route("/get-auth-status", endpoint(logins.status), methods=["GET"]),
        *device_routes(logins.devices),
    ]


__all__ = ["Logins", "routes"]
