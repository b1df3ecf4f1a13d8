"""The front door, as one ASGI middleware: Host check, CORS, client keys, WebSocket origins.

Plain ASGI rather than Starlette middleware classes so it costs one function call per request and
never wraps the streaming body.

The gate renders its own refusals: it runs in front of the Starlette app, so the app's exception
handler never sees what it raises (Starlette's user middleware sits outside its exception
middleware too). It renders them with the handler's own function, ``error_response_for_path``, so a
refusal here and an error in a route have the same shape, status and headers.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cliproxy.amp.paths import is_control_path as is_amp_control_path
from cliproxy.config.exposure import is_loopback as is_loopback  # re-exported: routes and the CLI check peers with it
from cliproxy.config.schema import Config
from cliproxy.errors import ProxyError, openai_error_body
from cliproxy.keys.model import KeyRing, KeySpec
from cliproxy.server.access import (
    PROTECTED_PREFIXES,
    KeyFailures,
    check_access,
    host_name,
    is_local_codex_cli,
    is_relayed_path,
    is_usage_path,
    names_this_machine,
)
from cliproxy.server.errors import error_response, error_response_for_path

CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def _needs_key(path: str) -> bool:
    """The API prefixes, and the quota routes wherever they are mounted (a bare ``/wham/usage`` too):
    every client key is checked here, so every wrong one counts toward the throttle."""
    return path.startswith(PROTECTED_PREFIXES) or is_usage_path(path)


class Gate:
    """Rejects what must not reach a route; adds CORS headers for configured origins."""

    def __init__(self, app: ASGIApp, config: Callable[[], Config], bind_host: str) -> None:
        self.app, self.config, self.bind_loopback = app, config, is_loopback(bind_host)
        self.key_failures = KeyFailures()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        config = self.config()
        headers = Headers(scope=scope)
        path: str = scope["path"]
        try:
            if not self.bind_loopback and not config.requires_key:
                self._fail_closed(scope)
            self._check_host(headers, config)
            origin = headers.get("origin")
            allowed_origin = _cors_origin(origin, path, config)
            if scope["type"] == "websocket":
                _check_websocket_origin(origin, allowed_origin)
            elif scope["method"] == "OPTIONS":
                await (_refuse_preflight(send) if is_amp_control_path(path) else self._preflight(send, allowed_origin))
                return
            if _needs_key(path) and not self._quota_read_by_codex(scope, headers, config):
                raw_query: bytes = scope.get("query_string", b"")
                query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}
                address = (scope.get("client") or ("", 0))[0]
                self._admit(scope, check_access(headers, query, KeyRing.of(config), self.key_failures, address))
        except ProxyError as err:
            if scope["type"] == "websocket":
                await _refuse_websocket(err, scope, receive, send)
                return
            await error_response_for_path(err, path)(scope, receive, send)
            return
        if allowed_origin:
            send = _with_cors(send, allowed_origin)
        await self.app(scope, receive, send)

    @staticmethod
    def _admit(scope: Scope, found: tuple[str, KeySpec] | None) -> None:
        """The key sent (Chat derives its prompt-cache key from it) and the client key it matched."""
        if found is not None:
            state = scope.setdefault("state", {})
            state["client_key"], state["key_spec"] = found

    @staticmethod
    def _quota_read_by_codex(scope: Scope, headers: Headers, config: Config) -> bool:
        """Loopback Codex CLI signed in with ChatGPT reads quota with its own token:
        allowed on the quota routes, where that token goes upstream only in the ``passthrough``
        view, and on the relayed ChatGPT backend paths, which act for that token's own account
        only. Inference still needs a client key."""
        client = scope.get("client") or ("", 0)
        path = scope["path"]
        return ((is_usage_path(path) or is_relayed_path(path))
                and is_local_codex_cli(headers, client[0], config.allowed_hosts))

    @staticmethod
    def _fail_closed(scope: Scope) -> None:
        """A public bind without keys must never be open: serve and reload refuse to get here, and
        should it happen anyway, only clients on this machine are served."""
        client = scope.get("client") or ("", 0)
        if not is_loopback(client[0]):
            raise ProxyError(403, "This server listens on a public address but has no `api-keys`; it serves "
                             "only clients on its own machine until keys are set.", code="no_api_keys",
                             type="permission_error")

    def _check_host(self, headers: Headers, config: Config) -> None:
        """Open mode on loopback: only loopback names (and ``allowed-hosts``) — stops DNS rebinding."""
        if not self.bind_loopback or config.requires_key:
            return
        host = headers.get("host", "")
        if names_this_machine(host, config.allowed_hosts):
            return
        name = host_name(host).lower()
        raise ProxyError(403, f"Host {name!r} is not allowed. Add it to `allowed-hosts` in the config, "
                         "or set `api-keys`.", code="host_not_allowed", type="permission_error")

    @staticmethod
    async def _preflight(send: Send, origin: str | None) -> None:
        headers = [(b"content-length", b"0")]
        if origin:
            headers += [
                *_cors_headers(origin),
                (b"access-control-allow-methods", CORS_METHODS.encode()),
                (b"access-control-allow-headers", b"*"),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _cors_origin(origin: str | None, path: str, config: Config) -> str | None:
    """The origin to name in CORS headers, if any. Never on Amp's control-plane routes: they act as
    the Amp account owner (the proxy adds the Amp key), so no browser page, listed or not, may read
    them; CORS headers ampcode.com sends itself still pass through."""
    if not origin or origin not in config.cors_allow_origins or is_amp_control_path(path):
        return None
    return origin


async def _refuse_preflight(send: Send) -> None:
    """A preflight to an Amp control-plane route: 403, no body, so a browser sends nothing there."""
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]


def _with_cors(send: Send, origin: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *_cors_headers(origin)]}
        await send(message)

    return wrapped


def _check_websocket_origin(origin: str | None, allowed: str | None) -> None:
    """A browser sends ``Origin`` on every WebSocket and, unlike ``fetch``, lets any page read the
    answer: a page the user visits could otherwise use the proxy (and its accounts) through a socket
    to this machine. Codex CLI and the SDKs send no ``Origin``; a browser app must be listed in
    ``cors-allow-origins``."""
    if origin and not allowed:
        raise ProxyError(403, f"WebSocket from origin {origin!r} refused: list it in `cors-allow-origins` to allow "
                         "a browser page to connect.", code="origin_not_allowed", type="permission_error")


async def _refuse_websocket(error: ProxyError, scope: Scope, receive: Receive, send: Send) -> None:
    """A refused upgrade is an HTTP answer with the real status and the OpenAI error body (the two
    WebSocket routes are Responses routes), sent before the handshake completes."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await error_response(error, openai_error_body)(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1008})
