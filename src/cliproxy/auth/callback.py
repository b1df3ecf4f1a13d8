"""The local callback server of the browser login, and the parser for a pasted redirect URL.

The server is a few lines of asyncio rather than a web framework: it answers two paths, for one
login, on loopback. It follows Codex CLI rather than CPA on two points: the state is checked *in the handler*
(a wrong or missing state gets 400 and the login keeps waiting, so a stray request cannot abort it),
and the code is exchanged *before* the browser is sent to ``/success``, so the page tells the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cliproxy.auth.errors import AuthenticationError, AuthError, CallbackInputError, OAuthError

log = logging.getLogger(__name__)

_READ_TIMEOUT = 10.0
_MAX_HEAD = 16 * 1024

OnCode = Callable[[str], Awaitable[object]]
OnError = Callable[[AuthError], None]


@dataclass(frozen=True)
class CallbackParams:
    code: str = ""
    state: str = ""
    error: str = ""
    error_description: str = ""


# ---- pasted callback URL ---------------------------------------------------------------------

_BARE_CODE = re.compile(r"[A-Za-z0-9._~-]{16,}")


def _as_url(text: str) -> str:
    if "://" in text:
        return text
    if text.startswith("?"):
        return "http://localhost" + text
    if any(ch in text for ch in "/?#:"):
        return "http://" + text
    if "=" in text:
        return "http://localhost/?" + text
    raise CallbackInputError("invalid callback URL")


def _first(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    return values[0].strip() if values else ""


def parse_callback_input(text: str) -> CallbackParams | None:
    """What the user pasted: a redirect URL in any of CPA's forms, or (our addition) a bare code of
    at least 16 URL-safe characters, which carries no state. None for empty input."""
    text = text.strip()
    if not text:
        return None
    if _BARE_CODE.fullmatch(text):
        return CallbackParams(code=text)
    parts = urlsplit(_as_url(text))
    query = parse_qs(parts.query, keep_blank_values=True)
    fragment = parse_qs(parts.fragment, keep_blank_values=True)
    fields = {key: _first(query, key) or _first(fragment, key)
              for key in ("code", "state", "error", "error_description")}
    if fields["code"] and not fields["state"] and "#" in fields["code"]:
        fields["code"], fields["state"] = fields["code"].split("#", 1)
    if not fields["error"] and fields["error_description"]:
        fields["error"] = fields["error_description"]
    params = CallbackParams(**fields)
    if not params.code and not params.error:
        raise CallbackInputError("callback URL missing code")
    return params


def check_pasted(params: CallbackParams, expected_state: str) -> str:
    """The code of a pasted result, after the same checks as a server callback."""
    if params.error:
        raise OAuthError(params.error, params.error_description)
    if params.state and params.state != expected_state:
        raise AuthenticationError("invalid_state", "state mismatch")
    if not params.state and not _BARE_CODE.fullmatch(params.code):
        raise AuthenticationError("invalid_state", "state mismatch")
    return params.code


# ---- the server ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Response:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    location: str = ""


_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


def _page(title: str, message: str, ok: bool) -> str:
    colour = "#10a37f" if ok else "#d9534f"
    mark = "&#10003;" if ok else "&#10007;"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - cliproxy</title>"
            "</head><body style='font-family:system-ui,sans-serif;text-align:center;margin-top:15vh'>"
            f"<div style='font-size:64px;color:{colour}'>{mark}</div><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(message)}</p></body></html>")


def _error_page(error: AuthError) -> _Response:
    return _Response(400, _page("Sign-in failed", error.friendly, False), "text/html; charset=utf-8")


SUCCESS_PAGE = _page("Authentication Successful!",
                     "You are signed in. You can close this window and return to the terminal.", True)


class CallbackServer:
    """Serves ``/auth/callback`` and ``/success`` on loopback for one login attempt.

    No ``/cancel`` route (Codex has one): any web page could make the browser call it and abort the
    login.

    ``on_code(code)`` runs the exchange and raises on failure; ``on_error(error)`` ends the login.
    """

    def __init__(self, *, state: str, on_code: OnCode, on_error: OnError, host: str = "127.0.0.1",
                 port: int = 1455) -> None:
        self._state, self._on_code, self._on_error = state, on_code, on_error
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self.code_received = False  # a browser brought a code here (rather than a paste)
        self.success_served = asyncio.Event()

    async def start(self) -> None:
        """Bind and listen; a busy port is ``port_in_use`` (CLI exit code 13)."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise AuthenticationError("port_in_use", f"port {self.port} is already in use",
                                          port=self.port) from None
            raise AuthenticationError("server_start_failed", str(exc)) from None
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target = await asyncio.wait_for(self._read_request(reader), _READ_TIMEOUT)
            response = await self._route(method, target)
            writer.write(self._encode(response))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            raise ValueError("request head too large")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                await reader.readexactly(min(int(value.strip()), 64 * 1024))
        return method.upper(), target

    @staticmethod
    def _encode(response: _Response) -> bytes:
        body = response.body.encode()
        head = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}",
                f"Content-Type: {response.content_type}", f"Content-Length: {len(body)}",
                "Cache-Control: no-store", "Connection: close"]
        if response.location:
            head.append(f"Location: {response.location}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    async def _route(self, method: str, target: str) -> _Response:
        parts = urlsplit(target)
        handler = {"/auth/callback": self._callback, "/success": self._success}.get(parts.path)
        if handler is None:
            return _Response(404, "404 page not found")
        if method != "GET":
            return _Response(405, "Method not allowed")
        query = parse_qs(parts.query, keep_blank_values=True)
        return await handler({key: values[0] for key, values in query.items()})

    async def _callback(self, query: dict[str, str]) -> _Response:
        state = query.get("state", "")
        if not state:
            return _Response(400, "No state parameter received")
        if state != self._state:
            log.warning("ignored a login callback with a state that does not match this login")
            return _Response(400, "State mismatch")
        if error := query.get("error", ""):
            failure = OAuthError(error, query.get("error_description", ""))
            self._on_error(failure)
            return _error_page(failure)
        code = query.get("code", "")
        if not code:
            self._on_error(OAuthError("no_code", "No authorization code received"))
            return _Response(400, "No authorization code received")
        self.code_received = True
        try:
            await self._on_code(code)
        except AuthError as exc:
            return _error_page(exc)
        return _Response(302, "", location="/success")

    async def _success(self, query: dict[str, str]) -> _Response:
        self.success_served.set()
        return _Response(200, SUCCESS_PAGE, "text/html; charset=utf-8")
